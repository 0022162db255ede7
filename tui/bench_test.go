package tui

import (
	"fmt"
	"testing"

	tea "charm.land/bubbletea/v2"

	"dcres/api"
)

// BenchmarkFrame8BusyHosts renders one frame of 8 hosts, all mid-checkpoint,
// after a new sample: the per-frame cost at 10 updates a second.
func BenchmarkFrame8BusyHosts(b *testing.B) {
	for _, sz := range [][2]int{{80, 24}, {200, 60}} {
		b.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(b *testing.B) {
			m, _ := scenarioModel(b, sz[0], sz[1], Options{})
			for h := 0; h < 8; h++ {
				m.Update(api.Event{Type: api.EvProgress, Progress: &api.Progress{Op: "checkpoint", ID: "ck-4",
					Host: fmt.Sprintf("h%d", h), Phase: "save", Done: 1 << 28, Total: 1 << 30, Rate: 1 << 28}})
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m.Update(eventsMsg{{Type: api.EvHosts, Hosts: hostSample(8, i, false)}})
				_ = m.View()
			}
		})
	}
}

var _ tea.Model = (*Model)(nil)
