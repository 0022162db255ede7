package recordings

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"dcres/api"
	"dcres/internal/leakcheck"
)

// recv returns the next event from ch, failing after a while.
func recv(t *testing.T, ch <-chan api.Event) api.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return api.Event{}
}

func isEnd(ev api.Event) bool {
	return ev.Type == api.EvLog && strings.HasPrefix(ev.Message, "replay: ")
}

// playAll plays rec at speed on a fake clock in steps of step, checking
// that no event arrives before its recorded offset, and returns what
// arrived (up to the end notice) as a recording.
func playAll(t *testing.T, rec *Recording, speed float64, step time.Duration) *Recording {
	t.Helper()
	clk := newFakeClock()
	p := NewPlayerClock(rec, clk)
	p.SetSpeed(speed)
	ch, unsub := p.Subscribe()
	defer unsub()
	got := &Recording{Header: rec.Header}
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range ch {
			if isEnd(ev) {
				return
			}
			at, _ := p.Position()
			mu.Lock()
			got.Events = append(got.Events, Entry{T: at, Ev: ev})
			mu.Unlock()
		}
	}()
	for at, total := p.Position(); at < total; at, _ = p.Position() {
		clk.Advance(step)
		time.Sleep(time.Millisecond) // let the driver deliver, so receipts see their own step
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the end of the recording was not announced")
	}
	mu.Lock()
	defer mu.Unlock()
	for i, e := range got.Events {
		if want := rec.Events[i].T; e.T < want {
			t.Errorf("event %d (%s) arrived at %v, before its offset %v", i, e.Ev.Type, e.T, want)
		}
	}
	return got
}

func sameFigures(t *testing.T, got, want Summary) {
	t.Helper()
	got.Seconds, want.Seconds = 0, 0
	if !reflect.DeepEqual(got, want) {
		t.Errorf("replayed figures differ:\n--- got\n%s--- want\n%s", got.Text(), want.Text())
	}
}

func TestPlayerReachesTheSummaryAt1xAnd100x(t *testing.T) {
	leakcheck.Check(t)
	for _, tc := range []struct {
		name  string
		speed float64
		step  time.Duration
	}{{"1x", 1, 100 * time.Millisecond}, {"100x", 100, time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, rec := range []*Recording{sampleRecording(t), shipped(t)} {
				got := playAll(t, rec, tc.speed, tc.step)
				if len(got.Events) != len(rec.Events) {
					t.Errorf("%d events replayed, want %d", len(got.Events), len(rec.Events))
				}
				sameFigures(t, Summarize(got), Summarize(rec))
			}
		})
	}
}

func shipped(t *testing.T) *Recording {
	t.Helper()
	rec, err := Open(shippedLab)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestPlayerTiming(t *testing.T) {
	leakcheck.Check(t)
	clk := newFakeClock()
	p := NewPlayerClock(sampleRecording(t), clk)
	ch, unsub := p.Subscribe()
	defer unsub()
	if ev := recv(t, ch); ev.Message != "VM vm1 running" {
		t.Fatalf("first event %+v", ev)
	}
	clk.Advance(2400 * time.Millisecond)
	for _, want := range []string{api.EvGuest, api.EvHosts, api.EvOpStart, api.EvProgress, api.EvProgress} {
		if ev := recv(t, ch); ev.Type != want {
			t.Fatalf("got %s, want %s", ev.Type, want)
		}
	}
	if at, total := p.Position(); at != 2400*time.Millisecond || total != 6*time.Second {
		t.Errorf("position %v of %v", at, total)
	}
	p.SetSpeed(2)
	clk.Advance(50 * time.Millisecond) // 2.5s at 2x
	if ev := recv(t, ch); ev.Type != api.EvOpDone || ev.Checkpoint == nil {
		t.Fatalf("got %+v, want the checkpoint's op-done", ev)
	}
	p.TogglePause()
	clk.Advance(time.Hour)
	if at, _ := p.Position(); at != 2500*time.Millisecond || !p.Paused() {
		t.Errorf("paused position %v, paused %v", at, p.Paused())
	}
	p.Step()
	if ev := recv(t, ch); ev.Type != api.EvCheckpoints {
		t.Fatalf("step delivered %s", ev.Type)
	}
	if at, _ := p.Position(); at != 2600*time.Millisecond {
		t.Errorf("after step at %v", at)
	}
	if l, err := p.List(context.Background()); err != nil || len(l) != 1 || l[0].ID != "ck-1" {
		t.Errorf("List: %v %v", l, err)
	}
	for x, want := range map[float64]float64{1000: MaxSpeed, 0: MinSpeed, 0.5: 0.5} {
		if p.SetSpeed(x); p.Speed() != want {
			t.Errorf("SetSpeed(%v): speed %v, want %v", x, p.Speed(), want)
		}
	}
}

func TestPlayerSeek(t *testing.T) {
	leakcheck.Check(t)
	clk := newFakeClock()
	p := NewPlayerClock(sampleRecording(t), clk)
	p.TogglePause()
	ch, unsub := p.Subscribe()
	defer unsub()
	recv(t, ch) // the event at 0
	p.Seek(4500 * time.Millisecond)
	// Forwards: the skipped events, the two progress samples condensed to one.
	var types []string
	for range 7 {
		types = append(types, recv(t, ch).Type)
	}
	want := []string{api.EvGuest, api.EvHosts, api.EvOpStart, api.EvProgress, api.EvOpDone, api.EvCheckpoints, api.EvOpDone}
	if !reflect.DeepEqual(types, want) {
		t.Errorf("seek forwards delivered %v, want %v", types, want)
	}
	if l, _ := p.List(context.Background()); len(l) != 1 {
		t.Errorf("list at 4.5s: %v", l)
	}
	p.Seek(time.Second)
	types = nil
	for range 4 {
		types = append(types, recv(t, ch).Type)
	}
	if want := []string{EvReplayReset, api.EvLog, api.EvGuest, api.EvHosts}; !reflect.DeepEqual(types, want) {
		t.Errorf("seek backwards delivered %v, want %v", types, want)
	}
	if l, _ := p.List(context.Background()); len(l) != 0 {
		t.Errorf("list at 1s: %v", l)
	}
	p.Seek(time.Hour)
	if at, total := p.Position(); at != total {
		t.Errorf("seek past the end: at %v of %v", at, total)
	}
	var last api.Event
	for !isEnd(last) {
		last = recv(t, ch)
	}
	if !strings.Contains(last.Message, "end of the recording at 0:06.0") {
		t.Errorf("end notice %q", last.Message)
	}
}

func TestPlayerLateSubscriberGetsTheState(t *testing.T) {
	leakcheck.Check(t)
	clk := newFakeClock()
	p := NewPlayerClock(sampleRecording(t), clk)
	clk.Advance(2300 * time.Millisecond) // nobody watches yet
	ch, unsub := p.Subscribe()
	var types []string
	for range 5 {
		types = append(types, recv(t, ch).Type)
	}
	if want := []string{api.EvLog, api.EvGuest, api.EvHosts, api.EvOpStart, api.EvProgress}; !reflect.DeepEqual(types, want) {
		t.Errorf("late subscriber got %v, want %v", types, want)
	}
	ch2, unsub2 := p.Subscribe()
	if ev := recv(t, ch2); ev.Type != api.EvLog {
		t.Errorf("second subscriber's first event %s", ev.Type)
	}
	unsub2()
	unsub()
	unsub() // twice is harmless
	if _, ok := <-ch; ok {
		t.Error("channel open after unsubscribe")
	}
}

func TestPlayerIsReadOnly(t *testing.T) {
	p := NewPlayer(sampleRecording(t))
	ctx := context.Background()
	_, e1 := p.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
	_, e2 := p.Restore(ctx, api.RestoreRequest{From: "last"})
	_, e3 := p.Verify(ctx, "")
	e4 := p.Delete(ctx, "ck-1")
	for _, err := range []error{e1, e2, e3, e4} {
		if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "this is a replay: read-only") {
			t.Errorf("error %v, want ErrReadOnly", err)
		}
	}
}

func TestPlayerOfDamagedRecordingSaysWhereItStopped(t *testing.T) {
	leakcheck.Check(t)
	data := encode(t, sampleHeader, sampleEvents())
	rec, err := Read(bytes.NewReader(data[:len(data)-10]))
	if err == nil {
		t.Fatal("a truncated recording read whole")
	}
	clk := newFakeClock()
	p := NewPlayerClock(rec, clk)
	p.Seek(time.Hour)
	ch, unsub := p.Subscribe()
	defer unsub()
	var last api.Event
	for !isEnd(last) {
		last = recv(t, ch)
	}
	if last.Level != api.Warn || !strings.Contains(last.Message, "line 13") || !strings.Contains(last.Message, "truncated") {
		t.Errorf("end notice %+v", last)
	}
	p.Close()
}
