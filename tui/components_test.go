package tui

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"dcres/api"
)

func testCommon() *Common {
	return &Common{Styles: NewStyles(true), Keys: DefaultKeyMap(), Now: fixedNow}
}

func TestHostsDropOutAndReconnect(t *testing.T) {
	hs := newHosts(testCommon())
	if ch := hs.apply(hostSample(4, 0, false)); len(ch) != 0 {
		t.Fatalf("first sample reported changes: %q", ch)
	}
	ch := hs.apply(hostSample(4, 1, true))
	if len(ch) != 1 || ch[0] != "host h3 disconnected" {
		t.Fatalf("drop out: %q", ch)
	}
	hs.SetSize(80, 4)
	if v := ansi.Strip(hs.View()); !strings.Contains(v, "DOWN") {
		t.Errorf("a disconnected host is not shown as such:\n%s", v)
	}
	if ch := hs.apply(hostSample(4, 2, false)); len(ch) != 1 || ch[0] != "host h3 reconnected" {
		t.Fatalf("reconnect: %q", ch)
	}
	for i := 0; i < 100; i++ {
		hs.apply(hostSample(4, i, false))
	}
	if n := len(hs.byName["h0"].samples); n != sparkSamples {
		t.Errorf("kept %d samples, want %d", n, sparkSamples)
	}
}

func TestHostsProgressClearedOnDone(t *testing.T) {
	hs := newHosts(testCommon())
	hs.Update(api.Event{Type: api.EvProgress, Progress: &api.Progress{Op: "checkpoint", ID: "ck-1", Host: "h0", Phase: "save", Done: 1, Total: 2, Rate: 1}})
	if hs.byName["h0"].progress == nil {
		t.Fatal("progress not kept")
	}
	hs.Update(api.Event{Type: api.EvOpDone, Op: "checkpoint", ID: "ck-1"})
	if hs.byName["h0"].progress != nil {
		t.Fatal("progress kept after op-done")
	}
}

func TestHostsGridOrCompact(t *testing.T) {
	hs := newHosts(testCommon())
	hs.apply(hostSample(8, 0, false))
	hs.SetSize(160, 2*panelLines)
	if v := ansi.Strip(hs.View()); !strings.Contains(v, "╭") {
		t.Errorf("8 hosts at 160x18 should be boxed:\n%s", v)
	}
	hs.SetSize(80, 8)
	v := ansi.Strip(hs.View())
	if strings.Contains(v, "╭") || !strings.Contains(v, "h7") {
		t.Errorf("8 hosts at 80x8 should be one line each:\n%s", v)
	}
}

func TestEventLogFilterAndScroll(t *testing.T) {
	c := testCommon()
	l := newEventLog(c)
	l.add(t0, api.Info, "checkpoint ck-1 started")
	l.add(t0, api.Error, "restore failed: h2 down")
	l.add(t0, api.Info, "checkpoint ck-1 done")
	l.startFilter()
	for _, k := range []string{"c", "k", "-", "1", "x", "backspace", "enter"} {
		l.Update(press(k))
	}
	if l.filter != "ck-1" || l.editing {
		t.Fatalf("filter = %q editing=%v", l.filter, l.editing)
	}
	if n := len(l.visible()); n != 2 {
		t.Errorf("filter ck-1 shows %d entries, want 2", n)
	}
	l.focused = true
	l.Update(press("esc"))
	if l.filter != "" || len(l.visible()) != 3 {
		t.Errorf("esc did not clear the filter")
	}
	l.SetSize(60, 1)
	l.Update(press("up"))
	if v := ansi.Strip(l.View()); !strings.Contains(v, "restore failed") {
		t.Errorf("scrolling up one should show the previous entry: %q", v)
	}
}

func TestMemMapMergesAndMarks(t *testing.T) {
	c := testCommon()
	mm := newMemMap(c)
	m := &api.MemMap{PagesPerCell: 1, Home: []string{"h0", "h0", "h1", "h1"}, Cached: []uint8{100, 100, 0, 0}, Dirty: []uint8{0, 0, 0, 50}}
	mm.Update(api.Event{Type: api.EvMemMap, MemMap: m})
	mm.SetSize(4, 2) // two cells per row, one row
	v := ansi.Strip(mm.View())
	lines := strings.Split(v, "\n")
	if lines[1] != "a·b+" {
		t.Errorf("merged row = %q, want %q", lines[1], "a·b+")
	}
	m.Target = []string{"h1", "h1", "h1", "h1"}
	mm.Update(api.Event{Type: api.EvMemMap, MemMap: m})
	mm.SetSize(8, 2)
	if got := strings.Split(ansi.Strip(mm.View()), "\n")[1]; got != "ababb=b=" {
		t.Errorf("restore row = %q, want %q", got, "ababb=b=")
	}
}

func TestCheckpointsSelectionFollowsID(t *testing.T) {
	cl := newCheckpoints(testCommon())
	cl.focused = true
	cl.Update(api.Event{Type: api.EvCheckpoints, Checkpoints: []api.CheckpointInfo{{ID: "a"}, {ID: "b"}}})
	if cl.selected() != nil {
		t.Fatal("something selected before the operator moved")
	}
	cl.Update(press("k"))
	cl.Update(press("k"))
	if s := cl.selected(); s == nil || s.ID != "a" {
		t.Fatalf("selected %+v, want a", s)
	}
	cl.Update(api.Event{Type: api.EvCheckpoints, Checkpoints: []api.CheckpointInfo{{ID: "z"}, {ID: "a"}, {ID: "b"}}})
	if s := cl.selected(); s == nil || s.ID != "a" {
		t.Fatalf("after a new list selected %+v, want a", s)
	}
	cl.Update(press("esc"))
	if cl.selected() != nil {
		t.Fatal("esc kept the selection")
	}
}

func TestHeaderCheckErrors(t *testing.T) {
	h := newHeader(testCommon(), "p")
	h.SetSize(120, 1)
	h.Update(api.Event{Type: api.EvGuest, Guest: &api.GuestStatus{State: api.StateRunning, CheckErrors: 3}})
	if v := ansi.Strip(h.View()); !strings.Contains(v, "CHECK ERRORS 3") {
		t.Errorf("check errors not shown: %q", v)
	}
}

func TestPumpCoalescesSamplesKeepsCompletions(t *testing.T) {
	events := make(chan api.Event)
	var mu sync.Mutex
	var got []api.Event
	send := func(msg tea.Msg) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, msg.(eventsMsg)...)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		pump(context.Background(), events, send, time.Hour)
	}()
	for i := 0; i < 100; i++ {
		events <- api.Event{Type: api.EvHosts, Hosts: hostSample(1, i, false)}
	}
	events <- api.Event{Type: api.EvOpDone, Op: "checkpoint", ID: "ck-1"}
	events <- api.Event{Type: api.EvOpDone, Op: "verify", Level: api.Error}
	close(events)
	<-done
	var hostsN, doneN int
	for _, ev := range got {
		switch ev.Type {
		case api.EvHosts:
			hostsN++
		case api.EvOpDone:
			doneN++
		}
	}
	if hostsN != 1 || doneN != 2 {
		t.Fatalf("delivered %d host samples and %d completions, want 1 and 2", hostsN, doneN)
	}
	if got[0].Hosts[0].DirtyRate != hostSample(1, 99, false)[0].DirtyRate {
		t.Error("the coalesced sample is not the newest")
	}
	if last := got[len(got)-1]; last.Level != api.Error || !strings.Contains(last.Message, "subscription") {
		t.Errorf("the end of the subscription is not reported: %+v", last)
	}
}

func TestPumpStopsOnContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		pump(ctx, make(chan api.Event), func(tea.Msg) {}, time.Millisecond)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("pump outlived its context")
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{fmtBytes(512), "512 B"}, {fmtBytes(1536), "1.5 KiB"}, {fmtBytes(2 << 30), "2.0 GiB"},
		{fmtDur(300 * time.Microsecond), "0.3ms"}, {fmtDur(1500 * time.Millisecond), "1.5s"},
		{fmtDur(62 * time.Minute), "1h02m"}, {fmtRate(0), "0 B/s"}, {fmtCount(1234), "1.2k"},
		{sparkline([]float64{0, 1, 2}, 4), " ▁▄█"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
