package hostagent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"dcres/agentrpc"
	"dcres/api"
	"dcres/ckpt"
	"dcres/guest/synthetic"
	"dcres/pager"
)

// vm is this host's part of one VM: its page store and, on the main host,
// the guest and its pager.
type vm struct {
	a      *Agent
	name   string
	inc    uint64
	self   int // index of this host in hosts
	setup  agentrpc.SetupParams
	npages uint64
	loc    *pager.Locations
	store  *pager.Store

	// Main host only.
	pager *pager.Pager
	guest *synthetic.Guest

	// op serializes protocol steps on this VM.
	op      sync.Mutex
	mu      sync.Mutex // guards the fields below
	running bool
	paused  bool
	lease   *time.Timer
	cancel  context.CancelFunc
	started time.Time
	// last sample, for rates
	lastAt      time.Time
	lastStats   pager.Stats
	lastWritten uint64
}

func (v *vm) isMain() bool { return v.setup.Main == v.a.cfg.Name }

// newVM builds a VM's state from its setup; the guest is not started.
func (a *Agent) newVM(p agentrpc.SetupParams) (*vm, error) {
	if err := ckpt.ValidName("vm", p.VM); err != nil {
		return nil, err
	}
	if p.MemoryBytes <= 0 || p.MemoryBytes%api.PageSize != 0 {
		return nil, fmt.Errorf("memory %d is not a positive multiple of %d", p.MemoryBytes, api.PageSize)
	}
	if p.Driver != "synthetic" {
		return nil, fmt.Errorf("driver %q is not served by this agent (synthetic only)", p.Driver)
	}
	self := -1
	for i, h := range p.Hosts {
		if h == a.cfg.Name {
			self = i
		}
	}
	if self < 0 {
		return nil, fmt.Errorf("host %s is not among the VM's hosts %v", a.cfg.Name, p.Hosts)
	}
	npages := uint64(p.MemoryBytes / api.PageSize)
	loc, err := pager.FromRanges(p.Hosts, npages, p.Locations)
	if err != nil {
		return nil, err
	}
	store, err := pager.NewStore(npages)
	if err != nil {
		return nil, err
	}
	v := &vm{a: a, name: p.VM, inc: p.Incarnation, self: self, setup: p, npages: npages, loc: loc, store: store}
	if v.isMain() {
		pg, err := pager.New(pager.Config{
			Locations: loc, LocalHost: self, Local: store,
			CacheBudgetPages: int(p.CacheBytes / api.PageSize),
			Remote:           &peerRemote{v: v},
		})
		if err != nil {
			store.Close()
			return nil, err
		}
		v.pager = pg
		g, err := synthetic.New(synthetic.Config{
			MemoryBytes: p.MemoryBytes, Pattern: p.Workload.Pattern, DirtyRate: p.Workload.DirtyRate,
			ReadRate: p.Workload.ReadRate, Seed: p.Workload.Seed, HotFraction: p.Workload.HotFraction,
			OnError: func(gfn uint64, err error) {
				a.logf(api.Error, "guest %s: page %d failed its check: %v", p.VM, gfn, err)
			},
		}, pg)
		if err != nil {
			store.Close()
			return nil, err
		}
		v.guest = g
	}
	return v, nil
}

// run starts the guest (main host only).
func (v *vm) run() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.guest == nil || v.running {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	v.cancel = cancel
	v.running = true
	v.started = time.Now()
	v.guest.Start(ctx)
}

// pause stops the guest and quiesces paging, and arms the lease that resumes
// the guest should the coordinator never come back.
func (v *vm) pause(ctx context.Context) error {
	if v.guest == nil {
		return fmt.Errorf("host %s does not run VM %s's guest", v.a.cfg.Name, v.name)
	}
	v.guest.Pause()
	if err := v.pager.Quiesce(ctx); err != nil {
		v.guest.Resume()
		return fmt.Errorf("quiescing paging: %w", err)
	}
	v.mu.Lock()
	v.paused = true
	lease := v.a.cfg.Lease
	v.lease = time.AfterFunc(lease, func() {
		if v.resume() {
			v.a.logf(api.Warn, "VM %s: no word from the coordinator for %s: resumed the guest (lease expired)", v.name, lease)
		}
	})
	v.mu.Unlock()
	return nil
}

// resume undoes pause; it reports whether the guest was paused.
func (v *vm) resume() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.paused {
		return false
	}
	v.paused = false
	if v.lease != nil {
		v.lease.Stop()
	}
	v.pager.Resume()
	v.guest.Resume()
	return true
}

// close stops the guest and frees the pages.
func (v *vm) close() {
	v.mu.Lock()
	if v.lease != nil {
		v.lease.Stop()
	}
	paused := v.paused
	v.paused = false
	running := v.running
	v.running = false
	cancel := v.cancel
	v.mu.Unlock()
	if v.guest != nil {
		if paused {
			v.pager.Resume()
			v.guest.Resume()
		}
		if running {
			v.guest.Stop()
		}
		if cancel != nil {
			cancel()
		}
	}
	v.store.Close()
}
