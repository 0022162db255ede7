package orchestrator

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"dcres/api"
	"dcres/profiles"
)

// scenarioCtrl is a Controller and Emitter that logs calls and emitted
// events in one sequence, so a test sees what happened in which order.
type scenarioCtrl struct {
	mu  sync.Mutex
	log []string
}

func (c *scenarioCtrl) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, s)
}

func (c *scenarioCtrl) seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.log...)
}

func (c *scenarioCtrl) Emit(ev api.Event) { c.add("emit " + ev.Type + ": " + ev.Message) }
func (c *scenarioCtrl) Subscribe() (<-chan api.Event, func()) {
	return make(chan api.Event), func() {}
}
func (c *scenarioCtrl) Checkpoint(ctx context.Context, req api.CheckpointRequest) (*api.CheckpointResult, error) {
	c.add("checkpoint " + req.Method)
	return &api.CheckpointResult{ID: "ck-1", Method: req.Method}, nil
}
func (c *scenarioCtrl) Restore(ctx context.Context, req api.RestoreRequest) (*api.RestoreResult, error) {
	c.add("restore " + req.From)
	return &api.RestoreResult{ID: req.From}, nil
}
func (c *scenarioCtrl) Verify(ctx context.Context, id string) (*api.VerifyResult, error) {
	c.add("verify")
	return &api.VerifyResult{Pages: 10}, nil
}
func (c *scenarioCtrl) List(ctx context.Context) ([]api.CheckpointInfo, error) { return nil, nil }
func (c *scenarioCtrl) Delete(ctx context.Context, id string) error            { return nil }

func readerSteps() []profiles.Step {
	return []profiles.Step{
		{Kind: profiles.StepCheckpoint, Line: 1, Checkpoint: api.CheckpointRequest{Method: "dcres"}},
		{Kind: profiles.StepPauseForReader, Line: 2, Text: "look at the pause"},
		{Kind: profiles.StepVerify, Line: 3},
	}
}

// TestScenarioReaderWaits: with a Reader hook, the step after a
// pause-for-reader starts only once the hook returns, and the note is
// published first; the hook's error ends the scenario there.
func TestScenarioReaderWaits(t *testing.T) {
	c := &scenarioCtrl{}
	goOn := make(chan struct{})
	hooks := &Hooks{Reader: func(ctx context.Context, text string) error {
		c.add("reader " + text)
		<-goOn
		c.add("reader went on")
		return nil
	}}
	done := make(chan error, 1)
	var steps []StepResult
	go func() {
		done <- RunScenario(context.Background(), c, readerSteps(), hooks, func(r StepResult) { steps = append(steps, r) })
	}()
	time.Sleep(100 * time.Millisecond)
	if got := c.seen(); len(got) != 3 || got[2] != "reader look at the pause" {
		t.Fatalf("while the reader reads: %q, want the checkpoint, the note and the reader, and no verify", got)
	}
	close(goOn)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := []string{"checkpoint dcres", "emit reader: look at the pause", "reader look at the pause", "reader went on", "verify"}
	if got := c.seen(); !reflect.DeepEqual(got, want) {
		t.Errorf("sequence %q, want %q", got, want)
	}
	if len(steps) != 3 || steps[1].Step != "pause-for-reader" || !steps[1].OK || steps[1].Text != "look at the pause" || steps[1].Seconds < 0.1 {
		t.Errorf("steps %+v", steps)
	}

	c = &scenarioCtrl{}
	stop := errors.New("reader left")
	hooks = &Hooks{Reader: func(context.Context, string) error { return stop }}
	err := RunScenario(context.Background(), c, readerSteps(), hooks, func(StepResult) {})
	if !errors.Is(err, stop) {
		t.Errorf("a failing reader: %v", err)
	}
	if got := c.seen(); len(got) != 2 {
		t.Errorf("after a failing reader: %q, want no verify", got)
	}
}

// TestScenarioWithoutReaderSkips: `dcres run` has no Reader: the step
// passes at once and publishes nothing.
func TestScenarioWithoutReaderSkips(t *testing.T) {
	c := &scenarioCtrl{}
	var steps []StepResult
	if err := RunScenario(context.Background(), c, readerSteps(), nil, func(r StepResult) { steps = append(steps, r) }); err != nil {
		t.Fatal(err)
	}
	if got, want := c.seen(), []string{"checkpoint dcres", "verify"}; !reflect.DeepEqual(got, want) {
		t.Errorf("sequence %q, want %q", got, want)
	}
	if len(steps) != 3 || !steps[1].OK || steps[1].Text != "look at the pause" {
		t.Errorf("steps %+v", steps)
	}
}
