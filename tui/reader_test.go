package tui

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"dcres/api"
	"dcres/orchestrator"
	"dcres/profiles"
)

// emitCtrl is the fake controller as an emitter, as the coordinator
// is: what the console emits is kept, and comes back on echo (the
// coordinator's subscription), as events to the model.
type emitCtrl struct {
	*fakeCtrl
	emu     sync.Mutex
	emitted []api.Event
	echo    chan api.Event
}

func newEmitCtrl() *emitCtrl {
	return &emitCtrl{fakeCtrl: newFake(), echo: make(chan api.Event, 64)}
}

func (e *emitCtrl) Emit(ev api.Event) {
	e.emu.Lock()
	e.emitted = append(e.emitted, ev)
	e.emu.Unlock()
	e.echo <- ev
}

// Emitted lists the emitted events as "type op id: message".
func (e *emitCtrl) Emitted() []string {
	e.emu.Lock()
	defer e.emu.Unlock()
	var out []string
	for _, ev := range e.emitted {
		out = append(out, strings.TrimSpace(ev.Type+" "+ev.Op+" "+ev.ID)+": "+ev.Message)
	}
	return out
}

// harness runs a Model as the program does: every command on a goroutine
// of its own, their messages (and the controller's echoed events) back
// into Update on the test's goroutine.
type harness struct {
	t    *testing.T
	m    *Model
	ctrl *emitCtrl
	msgs chan tea.Msg
	quit bool
}

func newHarness(t *testing.T, ctrl *emitCtrl, opt Options, w, h int) *harness {
	t.Helper()
	opt.Now = fixedNow
	m := New(ctrl, opt)
	t.Cleanup(m.cancel)
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	hs := &harness{t: t, m: m, ctrl: ctrl, msgs: make(chan tea.Msg, 256)}
	hs.run(m.Init())
	return hs
}

func (h *harness) run(cmd tea.Cmd) {
	if cmd != nil {
		go func() { h.msgs <- cmd() }()
	}
}

func (h *harness) handle(msg tea.Msg) {
	switch msg := msg.(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			h.run(c)
		}
	case tea.QuitMsg:
		h.quit = true
	default:
		_, cmd := h.m.Update(msg)
		h.run(cmd)
	}
}

// step handles one message or echoed event, false after d without any.
func (h *harness) step(d time.Duration) bool {
	select {
	case msg := <-h.msgs:
		h.handle(msg)
	case ev := <-h.ctrl.echo:
		h.handle(ev)
	case <-time.After(d):
		return false
	}
	return true
}

func (h *harness) press(keys ...string) {
	for _, k := range keys {
		h.handle(press(k))
	}
}

// until handles messages until cond holds; it fails after 5 s.
func (h *harness) until(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("no %s in 5s:\n%s", what, frame(h.m))
		}
		h.step(50 * time.Millisecond)
	}
}

// settle handles messages for d: whatever would happen by itself does.
func (h *harness) settle(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		h.step(time.Until(end))
	}
}

const readerText = "Each host saved the share it holds, in parallel: compare per-host bytes with the split."

// labScenario is a lab's scenario through the real scenario runner with the
// console's reader hook, as `dcres lab --scenario` runs it. Its steps'
// results and its error go to the returned channels.
func labScenario(ctrl api.Controller) (func(context.Context, func(context.Context, string) error) error, chan orchestrator.StepResult, chan error) {
	steps := []profiles.Step{
		{Kind: profiles.StepCheckpoint, Line: 3, Checkpoint: api.CheckpointRequest{Method: "dcres"}},
		{Kind: profiles.StepPauseForReader, Line: 4, Text: readerText},
		{Kind: profiles.StepVerify, Line: 5},
	}
	results, ended := make(chan orchestrator.StepResult, len(steps)), make(chan error, 1)
	return func(ctx context.Context, reader func(context.Context, string) error) error {
		err := orchestrator.RunScenario(ctx, ctrl, steps, &orchestrator.Hooks{Reader: reader}, func(r orchestrator.StepResult) { results <- r })
		ended <- err
		return err
	}, results, ended
}

func (h *harness) waiting() bool { return h.m.note != nil && h.m.note.wait != nil }

// TestScenarioReaderWaitsForKey: a lab's scenario runs under the console; at
// its pause-for-reader step the console shows the text and the scenario
// waits until enter or space, whatever else is pressed meanwhile.
func TestScenarioReaderWaitsForKey(t *testing.T) {
	ctrl := newEmitCtrl()
	scen, results, ended := labScenario(ctrl)
	for _, ev := range scenario() {
		if ev.Type == api.EvCheckpoints {
			ctrl.list = ev.Checkpoints
		}
	}
	h := newHarness(t, ctrl, Options{Title: "lab-split", Scenario: scen}, 80, 24)
	for _, ev := range scenario() {
		h.handle(ev)
	}
	h.until("reader's note", h.waiting)
	wantCalls(t, ctrl.fakeCtrl, "checkpoint dcres live=false")

	// Nothing goes on by itself, nor on other keys; action keys are refused
	// while the scenario runs, and none of this is an operator action.
	h.settle(300 * time.Millisecond)
	h.press("x", "tab", "j", "c")
	h.settle(100 * time.Millisecond)
	wantCalls(t, ctrl.fakeCtrl, "checkpoint dcres live=false")
	if !h.waiting() {
		t.Fatal("the note went away without enter or space")
	}
	got := frame(h.m)
	checkFrameSize(t, got, 80, 24)
	for _, want := range []string{"For the reader", "compare per-host", "enter or space: go on", "scenario is running: wait"} {
		if !strings.Contains(got, want) {
			t.Errorf("frame lacks %q:\n%s", want, got)
		}
	}
	h.press("tab", "tab") // back to the checkpoints, as it started
	compareGolden(t, "reader-80x24", frame(h.m))

	h.press("space")
	h.until("end of the scenario", func() bool { return h.m.running == "" })
	wantCalls(t, ctrl.fakeCtrl, "checkpoint dcres live=false", `verify ""`)
	if err := <-ended; err != nil {
		t.Fatalf("scenario: %v", err)
	}
	close(results)
	var pause *orchestrator.StepResult
	for r := range results {
		if r.Step == "pause-for-reader" {
			pause = &r
		}
	}
	if pause == nil || !pause.OK || pause.Seconds < 0.3 {
		t.Errorf("the pause step %+v did not wait for the reader", pause)
	}
	h.settle(50 * time.Millisecond)
	got = frame(h.m)
	for _, want := range []string{"scenario done", `pause-for-reader: went on after "Each host saved`, "reader: Each host saved"} {
		if !strings.Contains(got, want) {
			t.Errorf("frame after the scenario lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "For the reader") {
		t.Errorf("the note stays after the reader went on:\n%s", got)
	}
	want := []string{"reader: " + readerText, `action pause-for-reader: pause-for-reader: went on after "Each host saved the share it holds, in parallel…"`}
	if got := ctrl.Emitted(); !reflect.DeepEqual(got, want) {
		t.Errorf("emitted %q, want %q", got, want)
	}
	// The console is the operator's again.
	h.press("c")
	h.until("checkpoint", func() bool { return len(ctrl.Calls()) == 3 })
}

// TestScenarioQuitWhileReaderWaits: q asks, y cancels the scenario at its
// pause and the console quits once it stopped.
func TestScenarioQuitWhileReaderWaits(t *testing.T) {
	ctrl := newEmitCtrl()
	scen, _, ended := labScenario(ctrl)
	h := newHarness(t, ctrl, Options{Title: "lab-split", Scenario: scen}, 80, 24)
	h.until("reader's note", h.waiting)
	h.press("q")
	if !strings.Contains(frame(h.m), "Quit while scenario runs?") {
		t.Fatalf("q does not ask:\n%s", frame(h.m))
	}
	h.press("y")
	h.until("quit", func() bool { return h.quit })
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Errorf("scenario ended with %v, want cancelled", err)
	}
	wantCalls(t, ctrl.fakeCtrl, "checkpoint dcres live=false")
	if got := ctrl.Emitted(); len(got) != 2 || got[1] != "action quit: quit: cancelling scenario and waiting for it to stop" {
		t.Errorf("emitted %q", got)
	}
}

// TestActionsEmitted: the operator's actions (checkpoints, restore plan and
// restore, verify, delete) are published for recordings; navigation, help,
// filter and refused keys are not. Each action's log line comes back with
// its event, once.
func TestActionsEmitted(t *testing.T) {
	ctrl := newEmitCtrl()
	h := newHarness(t, ctrl, Options{Title: "lab-4hosts"}, 120, 40)
	for _, ev := range scenario() {
		h.handle(ev)
		if ev.Type == "checkpoints" {
			ctrl.list = ev.Checkpoints
		}
	}
	h.settle(50 * time.Millisecond)
	do := func(keys ...string) {
		h.press(keys...)
		h.settle(100 * time.Millisecond)
	}
	do("tab", "j", "shift+tab", "?", "esc", "/", "esc")
	do("r") // nothing selected: refused
	do("c")
	do("up", "up", "r", "down", "enter")
	do("y")
	do("v")
	do("d", "n")
	do("d", "y")
	want := []string{
		"action checkpoint: checkpoint (dcres) requested",
		"action restore ck-2: plan of a restore of ck-2 (single:h0) requested",
		"action restore ck-2: restore of ck-2 (single:h0) requested",
		"action verify ck-2: verify of ck-2 requested",
		"action delete ck-2: delete of ck-2 requested",
	}
	if got := ctrl.Emitted(); !reflect.DeepEqual(got, want) {
		t.Errorf("emitted\n%q\nwant\n%q", got, want)
	}
	n := 0
	for _, e := range h.m.log.entries {
		if e.text == "checkpoint (dcres) requested" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the checkpoint request is logged %d times, want once", n)
	}
}

// TestReplayShowsActionsAndNotes: a recording's reader note is shown until
// the recorded action that went on, and actions are log lines.
func TestReplayShowsActionsAndNotes(t *testing.T) {
	m, _ := replayModel(t, 80, 24)
	m.Update(api.Event{Time: t0, Type: api.EvReader, Message: readerText})
	got := frame(m)
	if !strings.Contains(got, "compare per-host") || !strings.Contains(got, "recorded note") {
		t.Errorf("the replayed note is not shown:\n%s", got)
	}
	m.Update(api.Event{Time: t0, Type: api.EvAction, Op: "pause-for-reader", Message: `pause-for-reader: went on after "Each host"`})
	m.Update(api.Event{Time: t0, Type: api.EvAction, Op: "checkpoint", Message: "traditional checkpoint requested"})
	got = frame(m)
	if strings.Contains(got, "recorded note") || !strings.Contains(got, "traditional checkpoint requested") || !strings.Contains(got, "went on after") {
		t.Errorf("after the recorded actions:\n%s", got)
	}
	// A replay acts on nothing: space is pause, not the reader's key.
	m.Update(api.Event{Time: t0, Type: api.EvReader, Message: readerText})
	drive(t, m, press("space"))
	if m.note == nil {
		t.Error("space in a replay dismissed the recorded note")
	}
}

// TestRestorePickerOffersHostsUp: after a host failed, the picker offers the
// hosts still up (the checkpoint's own spread would include the dead one),
// and a checkpoint saved on one host can be spread over the hosts up.
func TestRestorePickerOffersHostsUp(t *testing.T) {
	m, f := scenarioModel(t, 120, 40, Options{})
	// ck-2 is on h0..h3; h3 is down in the scenario.
	drive(t, m, press("up"), press("up"), press("r"))
	got := frame(m)
	if !strings.Contains(got, "spread evenly: h0=25%,h1=25%,h2=25%,h3=25%") || !strings.Contains(got, "spread evenly over the hosts up: h0=34%,h1=33%,h2=33%") {
		t.Fatalf("picker:\n%s", got)
	}
	for range 6 { // same, 4 single hosts, the checkpoint's spread
		drive(t, m, press("down"))
	}
	drive(t, m, press("enter"))
	wantCalls(t, f, "restore ck-2 h0=34%,h1=33%,h2=33% plan=true")
	drive(t, m, press("esc"))
	// ck-1 was saved on h0 alone: no spread of its own, the hosts up only.
	drive(t, m, press("up"), press("r"))
	got = frame(m)
	if strings.Contains(got, "spread evenly: h0") || !strings.Contains(got, "spread evenly over the hosts up: h0=34%,h1=33%,h2=33%") {
		t.Errorf("picker for a one-host checkpoint:\n%s", got)
	}
}
