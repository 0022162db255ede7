package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"dcres/api"
)

// These tests pin what the console does with the events the real
// orchestrator sends (found by running it in tmux against a local lab).

func TestLogCollapsesAFlood(t *testing.T) {
	c := &Common{Styles: NewStyles(true), Keys: DefaultKeyMap(), Now: fixedNow}
	l := newEventLog(c)
	l.add(t0, api.Info, "checkpoint started")
	for i := 0; i < 50; i++ {
		// Two interleaved kinds of error, as when a sub-host dies under the guest.
		l.add(t0, api.Error, "main: page "+strings.Repeat("1", i%3+1)+" failed its check: fetching")
		l.add(t0, api.Error, "main: page 7 failed its check: writing back")
	}
	if len(l.entries) != 3 {
		t.Fatalf("got %d entries, want 3 (one, and two collapsed kinds)", len(l.entries))
	}
	l.SetSize(80, 5)
	v := ansi.Strip(l.View())
	if !strings.Contains(v, "(×50) main: page 7 failed its check: writing back") || !strings.Contains(v, "(×50) main: page 11") {
		t.Errorf("no counts in:\n%s", v)
	}
	// Lines about different hosts stay apart: "sub1" is a name, not a number.
	l.add(t0, api.Info, "sub1: checkpoint save on sub1 done")
	l.add(t0, api.Info, "sub2: checkpoint save on sub2 done")
	if len(l.entries) != 5 {
		t.Errorf("lines about sub1 and sub2 were folded together")
	}
	if shapeOf("page 70344 [98528, 98560) on h2") != "page # [#, #) on h2" {
		t.Errorf("shapeOf = %q", shapeOf("page 70344 [98528, 98560) on h2"))
	}
	// Another kind of line, or the same much later, is its own entry.
	l.add(t0.Add(time.Minute), api.Error, "main: page 7 failed its check: writing back")
	if len(l.entries) != 6 {
		t.Errorf("a repeat a minute later was folded in")
	}
}

func TestOpDoneTextDoesNotRepeat(t *testing.T) {
	for _, c := range []struct {
		ev   api.Event
		want string
	}{
		{api.Event{Op: "checkpoint", ID: "dcres-1", Message: "checkpoint dcres-1 committed: 74 MiB"}, "checkpoint dcres-1 committed: 74 MiB"},
		{api.Event{Op: "verify", Message: "guest verify: 10 pages, 0 errors"}, "guest verify: 10 pages, 0 errors"},
		{api.Event{Op: "verify", ID: "ck-3", Message: "piece h2: bad"}, "verify ck-3 finished: piece h2: bad"},
		{api.Event{Op: "verify"}, "verify finished"},
	} {
		if got := opDoneText(c.ev); got != c.want {
			t.Errorf("opDoneText(%+v) = %q, want %q", c.ev, got, c.want)
		}
	}
}

// A checkpoint shorter than a frame still leaves each host's share on screen.
func TestHostKeepsLastOperation(t *testing.T) {
	m, _ := scenarioModel(t, 120, 40, Options{})
	m.Update(api.Event{Type: api.EvOpDone, Op: "checkpoint", ID: "ck-4", Checkpoint: &api.CheckpointResult{
		ID: "ck-4", Seconds: 0.07, PauseSeconds: 0.06,
		PerHost: []api.HostResult{{Host: "h0", Bytes: 37 << 20, Seconds: 0.05}, {Host: "h1", Bytes: 10 << 20, Seconds: 0.04}}}})
	f := frame(m)
	for _, want := range []string{"last checkpoint: 37 MiB in 50ms", "last checkpoint: 10 MiB in 40ms", "last checkpoint: 200 MiB in 1.0s"} {
		if !strings.Contains(f, want) {
			t.Errorf("frame lacks %q:\n%s", want, f)
		}
	}
	if strings.Contains(f, "round 2") {
		t.Errorf("progress bars outlived op-done:\n%s", f)
	}
	m.Update(api.Event{Type: api.EvOpStart, Op: "checkpoint", ID: "ck-5"})
	if f := frame(m); strings.Contains(f, "last checkpoint") {
		t.Errorf("the last shares outlived the next op's start:\n%s", f)
	}
}

func TestCheckpointListLongIDsAndTimings(t *testing.T) {
	m, _ := scenarioModel(t, 80, 24, Options{})
	ids := []string{"dcres-20250301T100000-1", "traditional-20250301T100005-12"}
	m.Update(api.Event{Type: api.EvOpDone, Op: "checkpoint", ID: ids[1], Checkpoint: &api.CheckpointResult{ID: ids[1], Seconds: 0.6, PauseSeconds: 0.599}})
	m.Update(api.Event{Type: api.EvCheckpoints, Checkpoints: []api.CheckpointInfo{
		{ID: ids[0], Created: t0, Method: "dcres", Bytes: 1 << 20, Hosts: []string{"h0"}},
		{ID: ids[1], Created: t0, Method: "traditional", Bytes: 1 << 20, Hosts: []string{"h0"}},
	}})
	f := frame(m)
	checkFrameSize(t, f, 80, 24)
	// At 80 columns the ids are cut in the middle: their ends tell them apart.
	if !strings.Contains(f, "-1 ") || !strings.Contains(f, "05-12 ") {
		t.Errorf("id ends lost:\n%s", f)
	}
	// No timings in the list: "-", or this console's own result.
	if !strings.Contains(f, "599ms") {
		t.Errorf("the known result's pause is not shown:\n%s", f)
	}
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	f = frame(m)
	for _, id := range ids {
		if !strings.Contains(f, id) {
			t.Errorf("at 120 columns id %s is not whole:\n%s", id, f)
		}
	}
}

// A command made but never run (the program quit first) is not waited for.
func TestWaitOpsIgnoresCommandsNeverRun(t *testing.T) {
	m := New(newFake(), Options{})
	cmd := m.listCmd()
	done := make(chan struct{})
	go func() { m.waitOps(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("waitOps waited for a command that never ran")
	}
	if msg := cmd(); msg != nil {
		t.Errorf("a command run after close called the controller: %#v", msg)
	}
}

func TestShortHelpKeepsQuitAt80(t *testing.T) {
	k := DefaultKeyMap()
	line := shortHelpFit(k.ShortHelp(), 80, k.Filter, k.Next)
	if ansi.StringWidth(line) > 80 || !strings.Contains(line, "q:quit") || !strings.Contains(line, "?:help") {
		t.Errorf("help line %q", line)
	}
	if !strings.Contains(shortHelpFit(k.ShortHelp(), 200, k.Filter, k.Next), "/:filter") {
		t.Error("a wide help line lost a binding")
	}
}
