package pager

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// stamp fills page with a pattern that names gfn and n.
func stamp(page []byte, gfn, n uint64) {
	for i := 0; i < PageSize; i += 16 {
		binary.LittleEndian.PutUint64(page[i:], gfn)
		binary.LittleEndian.PutUint64(page[i+8:], n^uint64(i))
	}
}

// TestConcurrentShadow runs several goroutines over a guest much larger than
// the cache; each owns a share of the pages and keeps a shadow copy, so
// every read is checked, through faults, clean and dirty evictions.
func TestConcurrentShadow(t *testing.T) {
	const npages, workers, ops = 600, 6, 3000
	const budget = 40
	f := newFake(t, 3, npages)
	p := newTestPager(t, f, npages, budget, 8, 4)
	ctx := context.Background()

	shadow := make([][]byte, npages)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var maxCached uint64
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if c := p.Stats().CachedPages; c > maxCached {
				maxCached = c
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			want := make([]byte, PageSize)
			for n := range ops {
				g := uint64(r.IntN(npages/workers))*workers + uint64(w)
				write := r.IntN(3) == 0
				err := p.Access(ctx, g, write, func(page []byte) {
					if shadow[g] == nil {
						clear(want)
					} else {
						copy(want, shadow[g])
					}
					if !bytes.Equal(page, want) {
						t.Errorf("page %d: content differs from its shadow copy", g)
					}
					if write {
						stamp(page, g, uint64(n))
						shadow[g] = append(shadow[g][:0], page...)
					}
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	if maxCached > budget {
		t.Errorf("cache held %d pages, budget %d", maxCached, budget)
	}
	st := p.Stats()
	if st.Evictions == 0 || st.PagesOut == 0 || st.Faults == 0 {
		t.Errorf("test did not exercise eviction and write-back: %+v", st)
	}
	if err := p.FlushDirty(ctx); err != nil {
		t.Fatal(err)
	}
	if d := p.DirtyCached(); len(d) != 0 {
		t.Fatalf("dirty after flush: %v", d)
	}
	loc := p.Locations()
	for g := uint64(0); g < npages; g++ {
		want := shadow[g]
		if want == nil {
			want = make([]byte, PageSize)
		}
		if got := f.Stores[loc.Home(g)].Page(g); !bytes.Equal(got, want) {
			t.Fatalf("page %d at its home %d differs from the shadow after flush", g, loc.Home(g))
		}
	}
	var written uint64
	for _, b := range st.WrittenByHost {
		written += b
	}
	if written == 0 || written%PageSize != 0 {
		t.Errorf("WrittenByHost %v", st.WrittenByHost)
	}
}

// TestSamePageNoLostUpdate has many goroutines increment counters in a few
// pages spread over the hosts while a tiny cache keeps evicting them.
func TestSamePageNoLostUpdate(t *testing.T) {
	const npages, workers, incs = 64, 8, 300
	f := newFake(t, 2, npages)
	p := newTestPager(t, f, npages, 2, 4, 2)
	pages := []uint64{1, 33, 40, 50, 63}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range incs {
				g := pages[(i+w)%len(pages)]
				err := p.Access(context.Background(), g, true, func(page []byte) {
					binary.LittleEndian.PutUint64(page, binary.LittleEndian.Uint64(page)+1)
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var total uint64
	for _, g := range pages {
		if err := p.Access(context.Background(), g, false, func(page []byte) {
			total += binary.LittleEndian.Uint64(page)
		}); err != nil {
			t.Fatal(err)
		}
	}
	if total != workers*incs {
		t.Fatalf("counters sum to %d, want %d: updates were lost", total, workers*incs)
	}
}

func TestDirtyVictimsBatched(t *testing.T) {
	f := newFake(t, 2, 64) // host 1 is home of pages 32..63
	p := newTestPager(t, f, 64, 4, 4, 4)
	ctx := context.Background()
	for g := uint64(32); g < 36; g++ {
		if err := p.Access(ctx, g, true, func(pg []byte) { stamp(pg, g, 1) }); err != nil {
			t.Fatal(err)
		}
	}
	if st := p.Stats(); st.Faults != 1 || st.PagesIn != 4 || st.DirtyPages != 4 {
		t.Fatalf("after writing one readahead group: %+v", st)
	}
	if err := p.Access(ctx, 40, false, func([]byte) {}); err != nil {
		t.Fatal(err)
	}
	if len(f.writeBacks) != 1 || len(f.writeBacks[0]) != 4 {
		t.Fatalf("write-backs %v, want one message of 4 pages", f.writeBacks)
	}
	want := make([]byte, PageSize)
	stamp(want, 33, 1)
	if !bytes.Equal(f.Stores[1].Page(33), want) {
		t.Fatal("page 33 did not reach its home")
	}
}

func TestFetchErrorRetries(t *testing.T) {
	f := newFake(t, 2, 16)
	p := newTestPager(t, f, 16, 4, 2, 2)
	f.failFetch = true
	if err := p.Access(context.Background(), 9, false, func([]byte) {}); err == nil {
		t.Fatal("Access succeeded although the fetch failed")
	}
	f.failFetch = false
	if err := p.Access(context.Background(), 9, false, func([]byte) {}); err != nil {
		t.Fatalf("retry after a failed fetch: %v", err)
	}
	if st := p.Stats(); st.CachedPages != 2 {
		t.Fatalf("cached %d pages, want the readahead pair", st.CachedPages)
	}
}

func TestQuiesce(t *testing.T) {
	f := newFake(t, 2, 16)
	p := newTestPager(t, f, 16, 4, 1, 1)
	f.block = make(chan struct{})
	f.entered = make(chan struct{}, 1)
	defer p.Resume()
	ctx := context.Background()
	accessDone := make(chan error, 1)
	go func() { accessDone <- p.Access(ctx, 10, false, func([]byte) {}) }()
	<-f.entered // a fault is in flight

	qctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	if err := p.Quiesce(qctx); err == nil {
		t.Fatal("Quiesce returned while a fault was in flight")
	}
	cancel()
	quiesced := make(chan error, 1)
	go func() { quiesced <- p.Quiesce(ctx) }()
	select {
	case <-quiesced:
		t.Fatal("Quiesce returned while a fault was in flight")
	case <-time.After(20 * time.Millisecond):
	}
	f.mu.Lock()
	blk := f.block
	f.block, f.entered = nil, nil
	f.mu.Unlock()
	close(blk)
	if err := <-quiesced; err != nil {
		t.Fatal(err)
	}
	if err := <-accessDone; err != nil {
		t.Fatal(err)
	}
	if err := p.Quiesce(ctx); err == nil {
		t.Fatal("second Quiesce succeeded")
	}
	held := make(chan error, 1)
	go func() { held <- p.Access(ctx, 3, false, func([]byte) {}) }()
	select {
	case <-held:
		t.Fatal("Access ran while quiesced")
	case <-time.After(20 * time.Millisecond):
	}
	p.Resume()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	// A held Access gives up when its context ends.
	if err := p.Quiesce(ctx); err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer acancel()
	if err := p.Access(actx, 3, false, func([]byte) {}); err == nil {
		t.Fatal("Access while quiesced returned nil after its context ended")
	}
	p.Resume()
}
