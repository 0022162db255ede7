package tui

import (
	"fmt"
	"time"

	"dcres/api"
)

// t0 is the fixed clock of the golden frames.
var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return t0 }

// hostSample is n hosts' figures at step i (rates vary with i so the
// sparklines have a shape); host 3 is down when down is set.
func hostSample(n, i int, down bool) []api.HostStats {
	var out []api.HostStats
	for h := 0; h < n; h++ {
		role := "sub"
		if h == 0 {
			role = "main"
		}
		s := api.HostStats{
			Host: fmt.Sprintf("h%d", h), Role: role, Addr: fmt.Sprintf("10.0.0.%d:2222", h+1),
			Connected: true, RTT: time.Duration(300+100*h) * time.Microsecond,
			HomePages: int64(65536 - 8192*h), CapacityPages: 131072,
			DirtyRate: float64((i*7+h*13)%20) * 1e6, PagesIn: float64(100 * (i % 5)), PagesOut: float64(30 * h),
		}
		if h == 0 {
			s.CachedPages, s.DirtyPages = 12000, 800
		}
		if down && h == 3 {
			s.Connected = false
		}
		out = append(out, s)
	}
	return out
}

// scenario is the fixed event sequence of the golden frames: a 4-host
// guest with three checkpoints, a live checkpoint in progress, a host that
// dropped out and an error.
func scenario() []api.Event {
	at := func(s int) time.Time { return t0.Add(time.Duration(s-60) * time.Second) }
	var evs []api.Event
	evs = append(evs, api.Event{Time: at(0), Type: api.EvGuest, Guest: &api.GuestStatus{
		Driver: "synthetic", State: api.StateRunning, MemoryBytes: 2 << 30, Uptime: 62 * time.Minute}})
	for i := 0; i < 30; i++ {
		evs = append(evs, api.Event{Time: at(i), Type: api.EvHosts, Hosts: hostSample(4, i, i >= 25)})
	}
	mm := &api.MemMap{PagesPerCell: 2048}
	for c := 0; c < 256; c++ {
		mm.Home = append(mm.Home, fmt.Sprintf("h%d", (c/24)%4))
		var cached, dirty uint8
		if c%5 == 0 {
			cached = 80
		}
		if c%11 == 0 {
			dirty = 20
		}
		mm.Cached = append(mm.Cached, cached)
		mm.Dirty = append(mm.Dirty, dirty)
	}
	evs = append(evs, api.Event{Time: at(30), Type: api.EvMemMap, MemMap: mm})
	evs = append(evs, api.Event{Time: at(31), Type: api.EvCheckpoints, Checkpoints: []api.CheckpointInfo{
		{ID: "ck-1", Created: at(-3000), Method: "traditional", Bytes: 2 << 30, Seconds: 4.1, PauseSeconds: 4.1, Hosts: []string{"h0"}, Verify: "ok"},
		{ID: "ck-2", Created: at(-1200), Method: "dcres", Bytes: 1900 << 20, Seconds: 0.9, PauseSeconds: 0.9, Hosts: []string{"h0", "h1", "h2", "h3"}, Verify: "ok"},
		{ID: "ck-3", Created: at(-600), Method: "dcres", Live: true, Parent: "ck-2", Bytes: 300 << 20, Seconds: 2.5, PauseSeconds: 0.06, Hosts: []string{"h0", "h1", "h2", "h3"}, Verify: "failed: piece h2 digest"},
	}})
	evs = append(evs,
		api.Event{Time: at(40), Type: api.EvOpStart, Op: "checkpoint", ID: "ck-4"},
		api.Event{Time: at(41), Type: api.EvLog, Host: "h0", Message: "pre-copy round 1: 512 MiB"},
		api.Event{Time: at(42), Type: api.EvLog, Level: api.Warn, Host: "h3", Message: "link slow: 40 MiB/s"},
	)
	for h := 0; h < 3; h++ {
		evs = append(evs, api.Event{Time: at(43), Type: api.EvProgress, Progress: &api.Progress{
			Op: "checkpoint", ID: "ck-4", Host: fmt.Sprintf("h%d", h), Phase: "round 2",
			Done: int64(100+50*h) << 20, Total: 512 << 20, Rate: 200 << 20}})
	}
	evs = append(evs, api.Event{Time: at(44), Type: api.EvOpDone, Op: "verify", ID: "ck-3", Level: api.Error, Message: "piece h2: digest mismatch in chunk 17"})
	return evs
}
