package pager

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// fakeRemote serves from in-process stores and checks the pager's promises:
// no page is fetched while another fetch or write-back of it is in flight.
type fakeRemote struct {
	t testing.TB
	InProcess

	mu         sync.Mutex
	inFlight   map[uint64]bool
	fetches    int
	writeBacks [][]uint64
	failFetch  bool
	block      chan struct{} // when set, Fetch waits on it
	entered    chan struct{} // when set, Fetch signals entry
}

func newFake(t testing.TB, nhosts int, npages uint64) *fakeRemote {
	f := &fakeRemote{t: t, inFlight: map[uint64]bool{}}
	for range nhosts {
		s, err := NewStore(npages)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		f.Stores = append(f.Stores, s)
	}
	return f
}

func (f *fakeRemote) claim(gfns []uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range gfns {
		if f.inFlight[g] {
			return fmt.Errorf("page %d moved twice at once", g)
		}
	}
	for _, g := range gfns {
		f.inFlight[g] = true
	}
	return nil
}

func (f *fakeRemote) release(gfns []uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range gfns {
		delete(f.inFlight, g)
	}
}

func (f *fakeRemote) Fetch(ctx context.Context, host int, start uint64, dst []byte) error {
	f.mu.Lock()
	f.fetches++
	fail, block, entered := f.failFetch, f.block, f.entered
	f.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if block != nil {
		<-block
	}
	if fail {
		return errors.New("injected fetch failure")
	}
	gfns := make([]uint64, len(dst)/PageSize)
	for i := range gfns {
		gfns[i] = start + uint64(i)
	}
	if err := f.claim(gfns); err != nil {
		f.t.Error(err)
		return err
	}
	defer f.release(gfns)
	return f.InProcess.Fetch(ctx, host, start, dst)
}

func (f *fakeRemote) WriteBack(ctx context.Context, host int, gfns []uint64, data []byte) error {
	if err := f.claim(gfns); err != nil {
		f.t.Error(err)
		return err
	}
	defer f.release(gfns)
	f.mu.Lock()
	f.writeBacks = append(f.writeBacks, append([]uint64(nil), gfns...))
	f.mu.Unlock()
	return f.InProcess.WriteBack(ctx, host, gfns, data)
}

// newTestPager builds a pager on host 0 of nhosts hosts, evenly split.
func newTestPager(t testing.TB, f *fakeRemote, npages uint64, budget, readahead, batch int) *Pager {
	hosts := make([]string, len(f.Stores))
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%d", i)
	}
	p, err := New(Config{
		Locations: SplitEven(hosts, npages), LocalHost: 0, Local: f.Stores[0],
		CacheBudgetPages: budget, Readahead: readahead, WriteBackBatch: batch, Remote: f,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
