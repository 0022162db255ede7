package synthetic

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"dcres/api"
	"dcres/pager"
)

// flatMemory is RAM in one slice, counting accesses per page.
type flatMemory struct {
	mu     sync.Mutex
	data   []byte
	counts []int
}

func newFlat(npages int) *flatMemory {
	return &flatMemory{data: make([]byte, npages*api.PageSize), counts: make([]int, npages)}
}

func (m *flatMemory) Access(_ context.Context, gfn uint64, _ bool, fn func([]byte)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counts[gfn]++
	fn(m.data[gfn*api.PageSize : (gfn+1)*api.PageSize])
	return nil
}

func TestRates(t *testing.T) {
	const pagesPerSec = 100
	g, err := New(Config{MemoryBytes: 256 * api.PageSize, DirtyRate: pagesPerSec * api.PageSize, Seed: 1}, newFlat(256))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	g.Start(context.Background())
	time.Sleep(500 * time.Millisecond)
	secs := time.Since(start).Seconds()
	g.Stop()
	st := g.Status()
	wantW := pagesPerSec * secs
	if w := float64(st.PagesWritten); w < 0.5*wantW || w > 1.2*wantW+5 {
		t.Errorf("wrote %v pages in %.2fs, want about %.0f", w, secs, wantW)
	}
	if r := float64(st.PagesRead); r < 0.5*4*wantW || r > 1.2*4*wantW+20 {
		t.Errorf("read %v pages in %.2fs, want about %.0f (4x the dirty rate)", r, secs, 4*wantW)
	}
	if st.CheckErrors != 0 || st.State != api.StateStopped {
		t.Errorf("status %+v", st)
	}
}

func TestPatterns(t *testing.T) {
	const n = 1000
	hc, _ := New(Config{MemoryBytes: n * api.PageSize, Pattern: HotCold, Seed: 2}, newFlat(n))
	hot := map[uint64]bool{}
	for i := range hc.hot {
		hot[(i*hc.stride)%n] = true
	}
	if len(hot) != 100 {
		t.Fatalf("hot set has %d distinct pages, want 100", len(hot))
	}
	inHot := 0
	for range 20000 {
		if hot[hc.next()] {
			inHot++
		}
	}
	if f := float64(inHot) / 20000; f < 0.87 || f > 0.93 {
		t.Errorf("hot pages got %.3f of accesses, want 0.9", f)
	}
	seq, _ := New(Config{MemoryBytes: 5 * api.PageSize, Pattern: Sequential}, newFlat(5))
	var got []uint64
	for range 7 {
		got = append(got, seq.next())
	}
	if want := []uint64{0, 1, 2, 3, 4, 0, 1}; !equalU64(got, want) {
		t.Errorf("sequential %v, want %v", got, want)
	}
	u, _ := New(Config{MemoryBytes: n * api.PageSize, Seed: 3}, newFlat(n))
	seen := map[uint64]bool{}
	for range 5000 {
		seen[u.next()] = true
	}
	if len(seen) < 950 {
		t.Errorf("uniform touched only %d of %d pages", len(seen), n)
	}
	if _, err := New(Config{MemoryBytes: n * api.PageSize, Pattern: "zipf"}, newFlat(n)); err == nil {
		t.Error("unknown pattern accepted")
	}
	if _, err := New(Config{MemoryBytes: 100}, newFlat(1)); err == nil {
		t.Error("memory size that is not whole pages accepted")
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPauseAndDeviceStateRoundTrip(t *testing.T) {
	mem := newFlat(64)
	cfg := Config{MemoryBytes: 64 * api.PageSize, Pattern: HotCold, DirtyRate: 2000 * api.PageSize, Seed: 4}
	g, _ := New(cfg, mem)
	g.Start(context.Background())
	defer g.Stop()
	time.Sleep(50 * time.Millisecond)
	if _, err := g.DeviceState(); err == nil {
		t.Fatal("DeviceState of a running guest succeeded")
	}
	g.Pause()
	before := g.Status()
	time.Sleep(30 * time.Millisecond)
	if after := g.Status(); after.PagesRead != before.PagesRead || after.PagesWritten != before.PagesWritten {
		t.Fatalf("accesses while paused: %+v then %+v", before, after)
	}
	if before.State != api.StatePaused || before.PagesWritten == 0 {
		t.Fatalf("status %+v", before)
	}
	state, err := g.DeviceState()
	if err != nil {
		t.Fatal(err)
	}
	h, _ := New(cfg, mem)
	if err := h.LoadDeviceState(state); err != nil {
		t.Fatal(err)
	}
	if !equalU32(h.Versions(), g.Versions()) {
		t.Fatal("versions differ after the round trip")
	}
	hs := h.Status()
	if hs.PagesRead != before.PagesRead || hs.PagesWritten != before.PagesWritten {
		t.Fatalf("counters %+v, want %+v", hs, before)
	}
	// Both continue with the same access sequence.
	for range 50 {
		if a, b := g.next(), h.next(); a != b {
			t.Fatal("rng state not restored")
		}
	}
	if pages, errs, err := h.VerifyAll(context.Background()); err != nil || pages != 64 || errs != 0 {
		t.Fatalf("VerifyAll = %d, %d, %v", pages, errs, err)
	}
	bad := bytes.Clone(state)
	bad[len(bad)/2] ^= 1
	for name, b := range map[string][]byte{"flipped": bad, "short": state[:40], "empty": nil} {
		if err := h.LoadDeviceState(b); err == nil {
			t.Errorf("%s state accepted", name)
		}
	}
	small, _ := New(Config{MemoryBytes: 32 * api.PageSize}, newFlat(32))
	if err := small.LoadDeviceState(state); err == nil {
		t.Error("state of a 64-page guest loaded into a 32-page one")
	}
	g.Resume()
	time.Sleep(20 * time.Millisecond)
	g.Stop()
	if st := g.Status(); st.CheckErrors != 0 || st.PagesWritten <= before.PagesWritten {
		t.Fatalf("after resume: %+v", st)
	}
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var _ Memory = (*pager.Pager)(nil)
