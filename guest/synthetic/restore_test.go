package synthetic

import (
	"bytes"
	"context"
	"testing"
	"time"

	"dcres/api"
	"dcres/pager"
)

const rNPages = 64

// split is a guest's memory over three in-process hosts, main host 0 with a
// cache much smaller than the remote share.
type split struct {
	stores []*pager.Store
	p      *pager.Pager
}

func newSplit(t *testing.T, snap [][]byte) *split {
	s := &split{}
	for range 3 {
		st, err := pager.NewStore(rNPages)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		s.stores = append(s.stores, st)
	}
	loc := pager.SplitEven([]string{"main", "sub1", "sub2"}, rNPages)
	for g, page := range snap {
		s.stores[loc.Home(uint64(g))].Put(uint64(g), page)
	}
	p, err := pager.New(pager.Config{Locations: loc, LocalHost: 0, Local: s.stores[0],
		CacheBudgetPages: 8, Readahead: 4, WriteBackBatch: 4, Remote: &pager.InProcess{Stores: s.stores}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	s.p = p
	return s
}

// checkpoint takes a consistent copy of a paused guest: every dirty cached
// page goes home, then every home's pages are copied.
func (s *split) checkpoint(t *testing.T, g *Guest) (pages [][]byte, state []byte) {
	ctx := context.Background()
	g.Pause()
	if err := s.p.Quiesce(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.p.Resume()
	if err := s.p.FlushDirty(ctx); err != nil {
		t.Fatal(err)
	}
	loc := s.p.Locations()
	for gfn := range uint64(rNPages) {
		pages = append(pages, bytes.Clone(s.stores[loc.Home(gfn)].Page(gfn)))
	}
	state, err := g.DeviceState()
	if err != nil {
		t.Fatal(err)
	}
	return pages, state
}

func runFor(g *Guest, d time.Duration) {
	g.Resume()
	time.Sleep(d)
	g.Pause()
}

func TestRestoreOnPager(t *testing.T) {
	cfg := Config{MemoryBytes: rNPages * api.PageSize, Pattern: Sequential, DirtyRate: 3000 * api.PageSize, Seed: 5}
	orig := newSplit(t, nil)
	g, err := New(cfg, orig.p)
	if err != nil {
		t.Fatal(err)
	}
	g.Start(context.Background())
	defer g.Stop()
	time.Sleep(100 * time.Millisecond)
	oldPages, _ := orig.checkpoint(t, g)
	runFor(g, 100*time.Millisecond)
	pages, state := orig.checkpoint(t, g)
	if st := g.Status(); st.CheckErrors != 0 || st.Faults == 0 || st.Evictions == 0 {
		t.Fatalf("original guest: %+v (want no errors, with faults and evictions)", st)
	}
	if pages, errs, err := g.VerifyAll(context.Background()); err != nil || pages != rNPages || errs != 0 {
		t.Fatalf("VerifyAll of the original = %d, %d, %v", pages, errs, err)
	}

	// A consistent restore verifies and keeps running without errors.
	good := newSplit(t, pages)
	rg := restoreGuest(t, cfg, good.p, state)
	if n, errs, err := rg.VerifyAll(context.Background()); err != nil || n != rNPages || errs != 0 {
		t.Fatalf("VerifyAll of the consistent restore = %d, %d, %v", n, errs, err)
	}
	rg.Start(context.Background())
	time.Sleep(100 * time.Millisecond)
	rg.Stop()
	if st := rg.Status(); st.CheckErrors != 0 {
		t.Fatalf("consistent restore: %d check errors", st.CheckErrors)
	}

	// One stale page (from the older checkpoint) is caught, by VerifyAll and
	// by the running guest.
	versions := g.Versions()
	stale := -1
	for i := rNPages - 1; i >= 0; i-- { // a remote page, whose version changed
		if !bytes.Equal(oldPages[i], pages[i]) && versions[i] > 0 {
			stale = i
			break
		}
	}
	if stale < rNPages*2/3 {
		t.Fatalf("no remote page changed between the checkpoints (stale=%d)", stale)
	}
	mixed := append([][]byte(nil), pages...)
	mixed[stale] = oldPages[stale]
	bad := newSplit(t, mixed)
	var reported []uint64
	cfg.OnError = func(gfn uint64, err error) { reported = append(reported, gfn) }
	bg := restoreGuest(t, cfg, bad.p, state)
	if _, errs, err := bg.VerifyAll(context.Background()); err != nil || errs != 1 {
		t.Fatalf("VerifyAll of the inconsistent restore = %d errors, %v; want 1", errs, err)
	}
	bg.Start(context.Background())
	deadline := time.Now().Add(2 * time.Second)
	for bg.Status().CheckErrors == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	bg.Stop()
	if st := bg.Status(); st.CheckErrors == 0 {
		t.Fatal("the running guest did not notice the stale page")
	}
	if len(reported) != 1 || reported[0] != uint64(stale) {
		t.Fatalf("OnError reported %v, want just page %d", reported, stale)
	}
}

func restoreGuest(t *testing.T, cfg Config, mem Memory, state []byte) *Guest {
	g, err := New(cfg, mem)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.LoadDeviceState(state); err != nil {
		t.Fatal(err)
	}
	return g
}
