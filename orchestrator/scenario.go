package orchestrator

import (
	"context"
	"fmt"
	"time"

	"dcres/api"
	"dcres/profiles"
)

// StepResult is one scenario step's outcome, as `dcres run --json` prints it.
type StepResult struct {
	Step             string           `json:"step"`
	Line             int              `json:"line,omitempty"`
	OK               bool             `json:"ok"`
	Error            string           `json:"error,omitempty"`
	Method           string           `json:"method,omitempty"`
	Live             bool             `json:"live,omitempty"`
	Parent           string           `json:"parent,omitempty"`
	Rounds           []api.Round      `json:"rounds,omitempty"`
	BytesAgain       *int64           `json:"bytes_saved_again,omitempty"`
	ReplicaBytes     int64            `json:"replica_bytes,omitempty"`
	RunningSeconds   *float64         `json:"running_seconds,omitempty"`
	ReplicaSeconds   float64          `json:"replica_seconds,omitempty"`
	ID               string           `json:"id,omitempty"`
	Placement        string           `json:"placement,omitempty"`
	Seconds          float64          `json:"seconds"`
	PauseSeconds     *float64         `json:"pause_seconds,omitempty"`
	BytesSaved       *int64           `json:"bytes_saved,omitempty"`
	BytesOverNetwork *int64           `json:"bytes_over_network,omitempty"`
	PerHost          []api.HostResult `json:"per_host,omitempty"`
	Pages            *int64           `json:"pages,omitempty"`
	Errors           *int64           `json:"errors,omitempty"`
	Faults           []string         `json:"faults,omitempty"`
	Text             string           `json:"text,omitempty"`
}

// Hooks are what a scenario may need beyond the controller. Either may be nil.
type Hooks struct {
	// Reader shows a pause-for-reader step's text and waits for the reader
	// to go on (the console: until a key); without it such steps are
	// skipped, as `dcres run` does. With it, the step is also published as
	// an api.EvReader event when ctrl can Emit (a Session can).
	Reader func(ctx context.Context, text string) error
	// Faults carries out fault steps (a lab implements it).
	Faults Faults
}

// emitter is a Controller that publishes events of its callers (Session).
type emitter interface{ Emit(api.Event) }

// Faults injects the faults of a lab's scenario.
type Faults interface {
	Kill(host string) error
	CutLink(host string) error
	RestoreLink(host string) error
	SetLinkRate(host string, bitsPerSec int64) error
}

// RunScenario runs steps one by one, reporting each to onStep, and stops at
// the first failure. A verify step that finds errors is a failure.
func RunScenario(ctx context.Context, ctrl api.Controller, steps []profiles.Step, hooks *Hooks, onStep func(StepResult)) error {
	if hooks == nil {
		hooks = &Hooks{}
	}
	for _, st := range steps {
		r, err := runStep(ctx, ctrl, st, hooks)
		r.Step, r.Line = st.Kind, st.Line
		r.OK = err == nil
		if err != nil {
			r.Error = err.Error()
		}
		onStep(r)
		if err != nil {
			return fmt.Errorf("step %s (line %d): %w", st.Kind, st.Line, err)
		}
	}
	return nil
}

func runStep(ctx context.Context, ctrl api.Controller, st profiles.Step, hooks *Hooks) (StepResult, error) {
	start := time.Now()
	var r StepResult
	switch st.Kind {
	case profiles.StepRun:
		select {
		case <-time.After(st.Duration):
		case <-ctx.Done():
			return r, ctx.Err()
		}
		r.Seconds = time.Since(start).Seconds()
	case profiles.StepCheckpoint:
		res, err := ctrl.Checkpoint(ctx, st.Checkpoint)
		r.Method = st.Checkpoint.Method
		if err != nil {
			return r, err
		}
		r.Method, r.ID, r.Seconds = res.Method, res.ID, res.Seconds
		r.PauseSeconds, r.BytesSaved, r.BytesOverNetwork = &res.PauseSeconds, &res.BytesSaved, &res.BytesOverNetwork
		r.PerHost, r.Parent = res.PerHost, res.Parent
		r.ReplicaBytes, r.ReplicaSeconds = res.ReplicaBytes, res.ReplicaSeconds
		if res.Live {
			r.Live, r.Rounds, r.BytesAgain = true, res.Rounds, &res.BytesAgain
		}
	case profiles.StepRestore:
		res, err := ctrl.Restore(ctx, st.Restore)
		if err != nil {
			return r, err
		}
		r.ID, r.Placement, r.Seconds, r.PerHost = res.ID, res.Placement, res.Seconds, res.PerHost
		if res.RunningSeconds > 0 {
			r.RunningSeconds = &res.RunningSeconds
		}
		r.BytesOverNetwork = &res.BytesOverNetwork
	case profiles.StepVerify:
		res, err := ctrl.Verify(ctx, st.VerifyCheckpoint)
		if err != nil {
			return r, err
		}
		r.ID, r.Seconds = res.Checkpoint, time.Since(start).Seconds()
		r.Pages, r.Errors, r.Faults = &res.Pages, &res.Errors, res.Faults
		if res.Errors > 0 {
			return r, fmt.Errorf("verify found %d errors in %d pages", res.Errors, res.Pages)
		}
	case profiles.StepPauseForReader:
		r.Text = st.Text
		if hooks.Reader != nil {
			// Shown to a reader: recordings keep the note, and replays show it.
			if e, ok := ctrl.(emitter); ok {
				e.Emit(api.Event{Type: api.EvReader, Message: st.Text})
			}
			if err := hooks.Reader(ctx, st.Text); err != nil {
				return r, err
			}
			r.Seconds = time.Since(start).Seconds()
		}
	case profiles.StepFault:
		f := st.Fault
		r.Text = f.Action + " " + f.Host
		if hooks.Faults == nil {
			return r, fmt.Errorf("fault steps need a lab: this scenario runs on real hosts")
		}
		var err error
		switch f.Action {
		case profiles.FaultKill:
			err = hooks.Faults.Kill(f.Host)
		case profiles.FaultCut:
			err = hooks.Faults.CutLink(f.Host)
		case profiles.FaultRestoreLink:
			err = hooks.Faults.RestoreLink(f.Host)
		case profiles.FaultSlow:
			err = hooks.Faults.SetLinkRate(f.Host, f.Rate)
		default:
			err = fmt.Errorf("fault %q is not known", f.Action)
		}
		if err != nil {
			return r, err
		}
		if c, ok := ctrl.(emitter); ok {
			c.Emit(api.Event{Type: api.EvLog, Level: api.Warn, Host: f.Host, Message: "fault injected: " + r.Text})
		}
	default:
		return r, fmt.Errorf("step %q is not known", st.Kind)
	}
	return r, nil
}
