package recordings

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"dcres/api"
)

var t0 = time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)

// sampleEvents is a small session: samples, a checkpoint, a restore, a verify.
func sampleEvents() []Entry {
	ev := func(t time.Duration, e api.Event) Entry {
		e.Time = t0.Add(t)
		return Entry{T: t, Ev: e}
	}
	list := []api.CheckpointInfo{{ID: "ck-1", VM: "vm1", Created: t0.Add(2 * time.Second), Method: "dcres", Bytes: 8 << 20, Hosts: []string{"a", "b"}}}
	return []Entry{
		ev(0, api.Event{Type: api.EvLog, Message: "VM vm1 running"}),
		ev(500*time.Millisecond, api.Event{Type: api.EvGuest, Guest: &api.GuestStatus{Driver: "synthetic", State: api.StateRunning, MemoryBytes: 64 << 20}}),
		ev(time.Second, api.Event{Type: api.EvHosts, Hosts: []api.HostStats{{Host: "a", Role: "main", Connected: true}, {Host: "b", Role: "sub", Connected: true}}}),
		ev(2*time.Second, api.Event{Type: api.EvOpStart, Op: "checkpoint", ID: "ck-1"}),
		ev(2100*time.Millisecond, api.Event{Type: api.EvProgress, Progress: &api.Progress{Op: "checkpoint", ID: "ck-1", Host: "a", Done: 1 << 20, Total: 4 << 20}}),
		ev(2200*time.Millisecond, api.Event{Type: api.EvProgress, Progress: &api.Progress{Op: "checkpoint", ID: "ck-1", Host: "a", Done: 4 << 20, Total: 4 << 20}}),
		ev(2500*time.Millisecond, api.Event{Type: api.EvOpDone, Op: "checkpoint", ID: "ck-1", Message: "committed",
			Checkpoint: &api.CheckpointResult{ID: "ck-1", Method: "dcres", Seconds: 0.5, PauseSeconds: 0.1, BytesSaved: 8 << 20,
				PerHost: []api.HostResult{{Host: "a", Bytes: 4 << 20, Pages: 1024, Seconds: 0.2}, {Host: "b", Bytes: 4 << 20, Pages: 1024, Seconds: 0.3}}}}),
		ev(2600*time.Millisecond, api.Event{Type: api.EvCheckpoints, Checkpoints: list}),
		ev(4*time.Second, api.Event{Type: api.EvOpDone, Op: "restore", ID: "ck-1",
			Restore: &api.RestoreResult{ID: "ck-1", Placement: "same", Seconds: 0.7, BytesOverNetwork: 1 << 20,
				PerHost: []api.HostResult{{Host: "a", Bytes: 4 << 20, Pulled: 1 << 20}, {Host: "b", Bytes: 4 << 20}}}}),
		ev(5*time.Second, api.Event{Type: api.EvOpDone, Op: "checkpoint", ID: "ck-2", Level: api.Error, Message: "host b: disk full"}),
		ev(5500*time.Millisecond, api.Event{Type: api.EvGuest, Guest: &api.GuestStatus{Driver: "synthetic", State: api.StateRunning, MemoryBytes: 64 << 20, CheckErrors: 0, PagesWritten: 99}}),
		ev(6*time.Second, api.Event{Type: api.EvOpDone, Op: "verify", Verify: &api.VerifyResult{Pages: 16384}}),
	}
}

var sampleHeader = Header{DCRES: "test", Profile: "lab-test", Hosts: []string{"a", "b"}, Driver: "synthetic", MemoryBytes: 64 << 20, Started: t0}

// encode writes a recording of entries.
func encode(t testing.TB, hdr Header, entries []Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, hdr)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := w.Write(e.T, e.Ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sampleRecording(t testing.TB) *Recording {
	t.Helper()
	rec, err := Read(bytes.NewReader(encode(t, sampleHeader, sampleEvents())))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// fakeClock is a Clock that moves only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) TimerAt(deadline time.Time) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ft := &fakeTimer{at: deadline, ch: make(chan time.Time, 1)}
	if !deadline.After(c.now) {
		ft.ch <- c.now
		return ft.ch, func() {}
	}
	c.timers = append(c.timers, ft)
	return ft.ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, x := range c.timers {
			if x == ft {
				c.timers = append(c.timers[:i], c.timers[i+1:]...)
				return
			}
		}
	}
}

// Advance moves the clock by d and fires the timers due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, ft := range c.timers {
		if !ft.at.After(c.now) {
			ft.ch <- c.now
		} else {
			kept = append(kept, ft)
		}
	}
	c.timers = kept
}

// fakeCtrl is a Controller whose events the test sends.
type fakeCtrl struct {
	events chan api.Event
	unsubs int
	mu     sync.Mutex
}

func (f *fakeCtrl) Subscribe() (<-chan api.Event, func()) {
	return f.events, func() { f.mu.Lock(); f.unsubs++; f.mu.Unlock() }
}
func (f *fakeCtrl) Checkpoint(context.Context, api.CheckpointRequest) (*api.CheckpointResult, error) {
	return nil, nil
}
func (f *fakeCtrl) Restore(context.Context, api.RestoreRequest) (*api.RestoreResult, error) {
	return nil, nil
}
func (f *fakeCtrl) Verify(context.Context, string) (*api.VerifyResult, error) { return nil, nil }
func (f *fakeCtrl) List(context.Context) ([]api.CheckpointInfo, error)        { return nil, nil }
func (f *fakeCtrl) Delete(context.Context, string) error                      { return nil }
