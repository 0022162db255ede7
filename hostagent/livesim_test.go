package hostagent

import (
	"context"
	"fmt"
	"math/rand"
	"testing"

	"dcres/api"
	"dcres/guest/synthetic"
	"dcres/pager"
)

// TestLiveCheckpointSimulation drives the live checkpoint algorithm of this
// package (pre-copy rounds that take a home's written marks and then copy
// its pages; a final pause that saves what is still marked plus the main
// host's dirty cache) over the real pager and stores, in one goroutine, with
// seeded interleavings of guest writes and reads (which fault pages in and
// evict dirty ones home), round starts and save progress. After every run it
// rebuilds memory as a restore does — each home's pieces in order, then the
// main host's overrides — and checks that every page holds the version it had
// at the cut. A failing seed is reproducible from its number.
func TestLiveCheckpointSimulation(t *testing.T) {
	seeds := 2000
	if testing.Short() {
		seeds = 300
	}
	for seed := int64(0); seed < int64(seeds); seed++ {
		if err := simulateLive(seed); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}

// TestLiveSimulationCatchesAMissedMark proves the check can fail: a save that
// forgets the pages written during the last round restores stale pages.
func TestLiveSimulationCatchesAMissedMark(t *testing.T) {
	failed := 0
	for seed := int64(0); seed < 50; seed++ {
		if simulateLiveWith(seed, true) != nil {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("a broken final save passed every seed: the simulation checks nothing")
	}
}

func simulateLive(seed int64) error { return simulateLiveWith(seed, false) }

func simulateLiveWith(seed int64, skipFinalMarks bool) error {
	rng := rand.New(rand.NewSource(seed))
	nhosts := 2 + rng.Intn(3)
	npages := uint64(64 + rng.Intn(192))
	hosts := make([]string, nhosts)
	shares := make([]float64, nhosts)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%d", i)
		shares[i] = 1 / float64(nhosts)
	}
	loc := pager.Split(hosts, npages, shares)
	stores := make([]*pager.Store, nhosts)
	for i := range stores {
		s, err := pager.NewStore(npages)
		if err != nil {
			return err
		}
		defer s.Close()
		stores[i] = s
	}
	pg, err := pager.New(pager.Config{Locations: loc, LocalHost: 0, Local: stores[0],
		CacheBudgetPages: 4 + rng.Intn(16), Readahead: 1 + rng.Intn(8), WriteBackBatch: 1 + rng.Intn(8),
		Remote: &pager.InProcess{Stores: stores}})
	if err != nil {
		return err
	}
	defer pg.Close()
	ctx := context.Background()
	versions := make([]uint32, npages)
	write := func() error {
		g := uint64(rng.Int63n(int64(npages)))
		versions[g]++
		return pg.Access(ctx, g, true, func(p []byte) { synthetic.Fill(p, g, versions[g]) })
	}
	read := func() error {
		g := uint64(rng.Int63n(int64(npages)))
		var cerr error
		err := pg.Access(ctx, g, false, func(p []byte) { cerr = synthetic.Check(p, g, versions[g]) })
		if err == nil {
			err = cerr
		}
		return err
	}
	// Some history before the checkpoint.
	for i := 0; i < int(npages); i++ {
		if err := write(); err != nil {
			return err
		}
	}
	// pieces[h] are host h's pieces, in order: gfn -> page copy.
	pieces := make([][]map[uint64][]byte, nhosts)
	type job struct {
		host int
		todo []uint64
		out  map[uint64][]byte
	}
	startRound := func(round int) []*job {
		var jobs []*job
		for h, s := range stores {
			runs := s.TakeWritten() // marks first, then the copies
			if round == 0 {
				runs = s.Runs()
			}
			j := &job{host: h, out: map[uint64][]byte{}}
			for _, r := range runs {
				for g := r.Start; g < r.Start+r.Count; g++ {
					j.todo = append(j.todo, g)
				}
			}
			jobs = append(jobs, j)
		}
		return jobs
	}
	finish := func(jobs []*job) {
		for _, j := range jobs {
			pieces[j.host] = append(pieces[j.host], j.out)
		}
	}
	rounds := 1 + rng.Intn(4)
	for round := 0; round < rounds; round++ {
		jobs := startRound(round)
		// Copies advance a few pages at a time between guest steps.
		for {
			left := 0
			for _, j := range jobs {
				left += len(j.todo)
			}
			if left == 0 {
				break
			}
			switch x := rng.Intn(10); {
			case x < 4:
				if err := write(); err != nil {
					return err
				}
			case x < 6:
				if err := read(); err != nil {
					return err
				}
			default:
				j := jobs[rng.Intn(len(jobs))]
				for k := 0; k < 1+rng.Intn(8) && len(j.todo) > 0; k++ {
					g := j.todo[0]
					j.todo = j.todo[1:]
					j.out[g] = append([]byte(nil), stores[j.host].Page(g)...)
				}
			}
		}
		finish(jobs)
	}
	// The cut: pause (one goroutine: nothing in flight), save what is marked
	// and the main host's dirty cache.
	if err := pg.Quiesce(ctx); err != nil {
		return err
	}
	cut := append([]uint32(nil), versions...)
	overrides := map[uint64][]byte{}
	for _, g := range pg.DirtyCached() {
		overrides[g] = append([]byte(nil), pg.CachedPage(g)...)
	}
	for h, s := range stores {
		out := map[uint64][]byte{}
		if !skipFinalMarks {
			for _, r := range s.TakeWritten() {
				for g := r.Start; g < r.Start+r.Count; g++ {
					out[g] = append([]byte(nil), s.Page(g)...)
				}
			}
		}
		pieces[h] = append(pieces[h], out)
	}
	pg.Resume()
	// The restore: every page from its home's pieces in order, then overrides.
	for g := uint64(0); g < npages; g++ {
		page := make([]byte, api.PageSize)
		for _, p := range pieces[loc.Home(g)] {
			if c, ok := p[g]; ok {
				page = c
			}
		}
		if c, ok := overrides[g]; ok {
			page = c
		}
		if err := synthetic.Check(page, g, cut[g]); err != nil {
			return fmt.Errorf("page %d (home h%d) after restore: %v", g, loc.Home(g), err)
		}
	}
	return nil
}
