package hostagent

import (
	"context"
	"fmt"
	"os"
	"sync"

	"dcres/api"
	"dcres/guest/synthetic"
	"dcres/pager"
)

// syntheticGuest runs the in-process verifying guest over the pager: its
// home pages in the VM's store, remote pages faulted in over peer links.
type syntheticGuest struct {
	v     *vm
	pager *pager.Pager
	g     *synthetic.Guest

	mu     sync.Mutex
	cancel context.CancelFunc
}

func newSyntheticGuest(v *vm) (*syntheticGuest, error) {
	p := v.setup
	pg, err := pager.New(pager.Config{
		Locations: v.loc, LocalHost: v.self, Local: v.store,
		CacheBudgetPages: int(p.CacheBytes / api.PageSize),
		Remote:           &peerRemote{v: v},
	})
	if err != nil {
		return nil, err
	}
	g, err := synthetic.New(synthetic.Config{
		MemoryBytes: p.MemoryBytes, Pattern: p.Workload.Pattern, DirtyRate: p.Workload.DirtyRate,
		ReadRate: p.Workload.ReadRate, Seed: p.Workload.Seed, HotFraction: p.Workload.HotFraction,
		OnError: v.a.limitLog(api.Error, "guest "+p.VM),
	}, pg)
	if err != nil {
		pg.Close()
		return nil, err
	}
	return &syntheticGuest{v: v, pager: pg, g: g}, nil
}

func (s *syntheticGuest) start(ctx context.Context, deviceState string) error {
	if deviceState != "" {
		state, err := os.ReadFile(deviceState)
		if err != nil {
			return err
		}
		if err := s.g.LoadDeviceState(state); err != nil {
			return fmt.Errorf("device state %s: %w", deviceState, err)
		}
	}
	gctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	s.g.Start(gctx)
	return nil
}

func (s *syntheticGuest) pause(ctx context.Context) error {
	// The guest first: quiescing the pager first would block the guest
	// inside an access, and Pause would never return.
	s.g.Pause()
	if err := s.pager.Quiesce(ctx); err != nil {
		s.g.Resume()
		return fmt.Errorf("quiescing paging: %w", err)
	}
	return nil
}

func (s *syntheticGuest) resume(context.Context) error {
	s.pager.Resume()
	s.g.Resume()
	return nil
}

func (s *syntheticGuest) homeRuns() []pager.Run { return s.v.store.Runs() }

func (s *syntheticGuest) homePage(g uint64) []byte {
	if !s.v.store.Has(g) {
		return zeroPage[:]
	}
	return s.v.store.Page(g)
}

func (s *syntheticGuest) putHome(g uint64, page []byte) { s.v.store.Put(g, page) }
func (s *syntheticGuest) dirtyCached() []uint64         { return s.pager.DirtyCached() }
func (s *syntheticGuest) cachedPage(g uint64) []byte    { return s.pager.CachedPage(g) }

// syncWrites has nothing to do: every write of the synthetic guest passes
// through its pager, which marks it in the store of the page's home.
func (s *syntheticGuest) syncWrites(context.Context) error { return nil }
func (s *syntheticGuest) unsyncedPages() uint64            { return 0 }

func (s *syntheticGuest) saveDeviceState(_ context.Context, path string) error {
	state, err := s.g.DeviceState()
	if err != nil {
		return err
	}
	return writeFileSync(path, state)
}

func (s *syntheticGuest) saveStream(context.Context, string) (int64, error) {
	return 0, fmt.Errorf("method qemu-stream needs the qemu driver; this VM runs the synthetic guest")
}

func (s *syntheticGuest) status() api.GuestStatus { return s.g.Status() }

func (s *syntheticGuest) verify(ctx context.Context) (int64, int64, error) {
	s.g.Pause()
	defer s.g.Resume()
	return s.g.VerifyAll(ctx)
}

func (s *syntheticGuest) paging() pagingStats {
	st := s.pager.Stats()
	return pagingStats{CachedPages: st.CachedPages, DirtyPages: st.DirtyPages, PagesIn: st.PagesIn,
		PagesOut: st.PagesOut, WrittenByHost: st.WrittenByHost}
}

func (s *syntheticGuest) close() {
	s.g.Stop()
	s.mu.Lock()
	if s.cancel != nil {
		s.cancel()
	}
	s.mu.Unlock()
	s.pager.Close()
}
