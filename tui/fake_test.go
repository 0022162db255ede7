package tui

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"dcres/api"
)

// fakeCtrl is a Controller that records calls and returns canned results.
type fakeCtrl struct {
	mu      sync.Mutex
	calls   []string
	events  chan api.Event
	unsubs  int
	list    []api.CheckpointInfo
	plan    *api.Plan
	ckptErr error
	block   chan struct{} // when set, Checkpoint waits for it or ctx
}

func newFake() *fakeCtrl {
	return &fakeCtrl{
		events: make(chan api.Event, 16),
		plan: &api.Plan{Checkpoint: "ck-2", Seconds: 1.5,
			Targets: []api.PlanTarget{{Host: "h0", Pages: 1000, LocalBytes: 4 << 20}, {Host: "h1", Pages: 500, LocalBytes: 1 << 20, PullBytes: 1 << 20}},
			Links:   []api.PlanLink{{From: "h2", To: "h1", Bytes: 1 << 20}}},
	}
}

func (f *fakeCtrl) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

// Calls returns the recorded calls, without List (which the console makes
// on its own to refresh).
func (f *fakeCtrl) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if c != "list" {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeCtrl) Subscribe() (<-chan api.Event, func()) {
	return f.events, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.unsubs++
	}
}

func (f *fakeCtrl) Checkpoint(ctx context.Context, req api.CheckpointRequest) (*api.CheckpointResult, error) {
	f.record(fmt.Sprintf("checkpoint %s live=%v", req.Method, req.Live))
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.ckptErr != nil {
		return nil, f.ckptErr
	}
	return &api.CheckpointResult{ID: "ck-9", Method: req.Method, Live: req.Live, Seconds: 1.2, PauseSeconds: 0.08, BytesSaved: 1 << 30}, nil
}

func (f *fakeCtrl) Restore(ctx context.Context, req api.RestoreRequest) (*api.RestoreResult, error) {
	f.record(fmt.Sprintf("restore %s %s plan=%v", req.From, req.Placement, req.PlanOnly))
	return &api.RestoreResult{ID: req.From, Placement: req.Placement, Seconds: 0.7, Plan: f.plan}, nil
}

func (f *fakeCtrl) Verify(ctx context.Context, id string) (*api.VerifyResult, error) {
	f.record(fmt.Sprintf("verify %q", id))
	return &api.VerifyResult{Checkpoint: id, Pages: 1234}, nil
}

func (f *fakeCtrl) List(ctx context.Context) ([]api.CheckpointInfo, error) {
	f.record("list")
	return f.list, nil
}

func (f *fakeCtrl) Delete(ctx context.Context, id string) error {
	f.record("delete " + id)
	if id == "" {
		return errors.New("no id")
	}
	return nil
}

// press makes a key press from its Keystroke name.
func press(s string) tea.KeyPressMsg {
	switch s {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	}
	r := []rune(s)[0]
	return tea.KeyPressMsg{Code: r, Text: s}
}

// drive feeds messages to the model and runs the commands they return
// synchronously, feeding their results back, as the program would. It
// reports whether a command asked to quit.
func drive(t *testing.T, m *Model, msgs ...tea.Msg) (quit bool) {
	t.Helper()
	for _, msg := range msgs {
		_, cmd := m.Update(msg)
		if runCmd(t, m, cmd) {
			quit = true
		}
	}
	return quit
}

func runCmd(t *testing.T, m *Model, cmd tea.Cmd) (quit bool) {
	t.Helper()
	if cmd == nil {
		return false
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a command did not return in 5s")
	}
	switch msg := msg.(type) {
	case nil:
		return false
	case tea.BatchMsg:
		for _, c := range msg {
			if runCmd(t, m, c) {
				quit = true
			}
		}
		return quit
	case tea.QuitMsg:
		return true
	default:
		return drive(t, m, msg)
	}
}
