package recordings

import (
	"time"

	"dcres/api"
)

// Format is the header's format name; Version the one this package writes
// and the newest it reads.
const (
	Format  = "dcres-recording"
	Version = 1
)

// MaxLine bounds one line of a recording, so a corrupted file cannot make the
// reader buffer without limit.
const MaxLine = 4 << 20

// Header is a recording's first line.
type Header struct {
	Format      string    `json:"format"`
	Version     int       `json:"version"`
	DCRES       string    `json:"dcres"` // version of the dcres that recorded
	Profile     string    `json:"profile"`
	Hosts       []string  `json:"hosts"`
	Driver      string    `json:"driver"`
	MemoryBytes int64     `json:"memory_bytes"`
	Started     time.Time `json:"started"`
}

// Entry is one recorded event at T after the start (monotonic clock).
type Entry struct {
	T  time.Duration `json:"t"`
	Ev api.Event     `json:"ev"`
}

// Recording is a read recording. Damage is the error that stopped the
// reader early (nil for a whole recording); Events are those before it.
type Recording struct {
	Header Header
	Events []Entry
	Damage error
}

// Duration is the offset of the last event.
func (r *Recording) Duration() time.Duration {
	if len(r.Events) == 0 {
		return 0
	}
	return r.Events[len(r.Events)-1].T
}
