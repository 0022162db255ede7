package recordings

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"dcres/api"
	"dcres/internal/units"
)

// Summary is a recording's figures, from its op-done events.
type Summary struct {
	Profile     string              `json:"profile"`
	DCRES       string              `json:"dcres"`
	Driver      string              `json:"driver"`
	Hosts       []string            `json:"hosts"`
	MemoryBytes int64               `json:"memory_bytes"`
	Started     time.Time           `json:"started"`
	Seconds     float64             `json:"seconds"` // the recording's length
	Checkpoints []CheckpointSummary `json:"checkpoints"`
	Restores    []RestoreSummary    `json:"restores"`
	Verifies    []VerifySummary     `json:"verifies"`
	Failures    []Failure           `json:"failures"`
	// Actions are what the operator did in a console (api.EvAction), in
	// order: checkpoints, restores, verifies and deletes asked for, and
	// pause-for-reader notes gone on from.
	Actions []Action `json:"actions"`
	Totals  Totals   `json:"totals"`
	// GuestCheckErrors is the guest's own check-error count at the end (-1:
	// the recording has no guest figures).
	GuestCheckErrors int64 `json:"guest_check_errors"`
	// Damage says where a damaged recording stopped ("" when whole).
	Damage string `json:"damage,omitempty"`
}

// CheckpointSummary is one finished checkpoint.
type CheckpointSummary struct {
	ID               string           `json:"id"`
	Method           string           `json:"method"`
	Live             bool             `json:"live"`
	Seconds          float64          `json:"seconds"`
	PauseSeconds     float64          `json:"pause_seconds"`
	BytesSaved       int64            `json:"bytes_saved"`
	BytesOverNetwork int64            `json:"bytes_over_network"`
	PerHost          []api.HostResult `json:"per_host"`
}

// RestoreSummary is one finished restore.
type RestoreSummary struct {
	ID               string           `json:"id"`
	Placement        string           `json:"placement"`
	Seconds          float64          `json:"seconds"`
	Pulled           int64            `json:"pulled"` // bytes fetched from peers
	BytesOverNetwork int64            `json:"bytes_over_network"`
	PerHost          []api.HostResult `json:"per_host"`
}

// VerifySummary is one finished verify ("" checkpoint: the running guest).
type VerifySummary struct {
	Checkpoint string `json:"checkpoint,omitempty"`
	Pages      int64  `json:"pages"`
	Errors     int64  `json:"errors"`
}

// Failure is an operation that ended with an error.
type Failure struct {
	Op      string `json:"op"`
	ID      string `json:"id,omitempty"`
	Message string `json:"message"`
}

// Action is one operator action, At seconds into the recording.
type Action struct {
	At      float64 `json:"at"`
	Op      string  `json:"op"`
	ID      string  `json:"id,omitempty"`
	Message string  `json:"message"`
}

// Totals add the operations up.
type Totals struct {
	Checkpoints       int     `json:"checkpoints"`
	CheckpointSeconds float64 `json:"checkpoint_seconds"`
	PauseSeconds      float64 `json:"pause_seconds"`
	BytesSaved        int64   `json:"bytes_saved"`
	BytesOverNetwork  int64   `json:"bytes_over_network"` // checkpoints and restores
	Restores          int     `json:"restores"`
	RestoreSeconds    float64 `json:"restore_seconds"`
	Pulled            int64   `json:"pulled"`
	Verifies          int     `json:"verifies"`
	VerifyErrors      int64   `json:"verify_errors"`
	Failures          int     `json:"failures"`
	Actions           int     `json:"actions"` // operator actions
}

// Summarize adds up rec's finished operations.
func Summarize(rec *Recording) Summary {
	h := rec.Header
	s := Summary{Profile: h.Profile, DCRES: h.DCRES, Driver: h.Driver, Hosts: h.Hosts, MemoryBytes: h.MemoryBytes,
		Started: h.Started, Seconds: rec.Duration().Seconds(), GuestCheckErrors: -1,
		Checkpoints: []CheckpointSummary{}, Restores: []RestoreSummary{}, Verifies: []VerifySummary{}, Failures: []Failure{}, Actions: []Action{}}
	if rec.Damage != nil {
		s.Damage = rec.Damage.Error()
	}
	for _, e := range rec.Events {
		if e.Ev.Type == api.EvAction {
			s.Actions = append(s.Actions, Action{At: e.T.Seconds(), Op: e.Ev.Op, ID: e.Ev.ID, Message: e.Ev.Message})
			s.Totals.Actions++
		}
		s.add(e.Ev)
	}
	return s
}

// add applies one event.
func (s *Summary) add(ev api.Event) {
	t := &s.Totals
	switch {
	case ev.Type == api.EvGuest && ev.Guest != nil:
		s.GuestCheckErrors = ev.Guest.CheckErrors
	case ev.Type != api.EvOpDone:
	case ev.Level == api.Error:
		s.Failures = append(s.Failures, Failure{Op: ev.Op, ID: ev.ID, Message: ev.Message})
		t.Failures++
	case ev.Checkpoint != nil:
		c := ev.Checkpoint
		s.Checkpoints = append(s.Checkpoints, CheckpointSummary{ID: c.ID, Method: c.Method, Live: c.Live, Seconds: c.Seconds,
			PauseSeconds: c.PauseSeconds, BytesSaved: c.BytesSaved, BytesOverNetwork: c.BytesOverNetwork, PerHost: c.PerHost})
		t.Checkpoints++
		t.CheckpointSeconds += c.Seconds
		t.PauseSeconds += c.PauseSeconds
		t.BytesSaved += c.BytesSaved
		t.BytesOverNetwork += c.BytesOverNetwork
	case ev.Restore != nil:
		r := ev.Restore
		rs := RestoreSummary{ID: r.ID, Placement: r.Placement, Seconds: r.Seconds, BytesOverNetwork: r.BytesOverNetwork, PerHost: r.PerHost}
		for _, ph := range r.PerHost {
			rs.Pulled += ph.Pulled
		}
		s.Restores = append(s.Restores, rs)
		t.Restores++
		t.RestoreSeconds += r.Seconds
		t.Pulled += rs.Pulled
		t.BytesOverNetwork += r.BytesOverNetwork
	case ev.Verify != nil:
		v := ev.Verify
		s.Verifies = append(s.Verifies, VerifySummary{Checkpoint: v.Checkpoint, Pages: v.Pages, Errors: v.Errors})
		t.Verifies++
		t.VerifyErrors += v.Errors
	}
}

// WriteJSON writes s as one indented JSON object.
func (s Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// Text renders s for people.
func (s Summary) Text() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	by := units.FormatBytes
	p("recording of %s (dcres %s): %s guest of %s over %s, %s from %s\n", s.Profile, s.DCRES, s.Driver, by(s.MemoryBytes),
		strings.Join(s.Hosts, ", "), secs(s.Seconds), s.Started.UTC().Format("2006-01-02 15:04:05 UTC"))
	if s.Damage != "" {
		p("DAMAGED: %s\n", s.Damage)
	}
	for _, c := range s.Checkpoints {
		kind := c.Method
		if c.Live {
			kind += " live"
		}
		p("checkpoint %s (%s): %s, pause %s, %s saved, %s over the network\n", c.ID, kind, secs(c.Seconds), secs(c.PauseSeconds), by(c.BytesSaved), by(c.BytesOverNetwork))
		for _, h := range c.PerHost {
			p("  %-12s %10s %8d pages %s\n", h.Host, by(h.Bytes), h.Pages, secs(h.Seconds))
		}
	}
	for _, r := range s.Restores {
		p("restore %s (placement %s): %s, %s pulled from peers\n", r.ID, r.Placement, secs(r.Seconds), by(r.Pulled))
		for _, h := range r.PerHost {
			p("  %-12s %10s %8d pages %s, pulled %s\n", h.Host, by(h.Bytes), h.Pages, secs(h.Seconds), by(h.Pulled))
		}
	}
	for _, v := range s.Verifies {
		what := "guest"
		if v.Checkpoint != "" {
			what = v.Checkpoint
		}
		p("verify %s: %d pages, %d errors\n", what, v.Pages, v.Errors)
	}
	for _, f := range s.Failures {
		p("FAILED %s %s: %s\n", f.Op, f.ID, f.Message)
	}
	for _, a := range s.Actions {
		p("action at %s: %s\n", secs(a.At), a.Message)
	}
	t := s.Totals
	p("totals: %d checkpoints in %s (pauses %s, %s saved), %d restores in %s (%s pulled), %s over the network, %d verifies with %d errors, %d failures\n",
		t.Checkpoints, secs(t.CheckpointSeconds), secs(t.PauseSeconds), by(t.BytesSaved), t.Restores, secs(t.RestoreSeconds), by(t.Pulled),
		by(t.BytesOverNetwork), t.Verifies, t.VerifyErrors, t.Failures)
	p("operator actions: %d\n", t.Actions)
	if s.GuestCheckErrors >= 0 {
		p("guest check errors at the end: %d\n", s.GuestCheckErrors)
	} else {
		p("guest check errors at the end: unknown (no guest figures recorded)\n")
	}
	return b.String()
}

func secs(x float64) string { return fmt.Sprintf("%.3fs", x) }
