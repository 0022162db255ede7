// Package synthetic is the verifying synthetic guest: an in-process
// workload that reads and writes guest pages through a Memory (the pager) at
// configured rates and access patterns. Every page it writes encodes its gfn
// and a version; every page it reads is checked against the version table it
// keeps. The table is part of its device state, so a guest resumed on a
// restored copy checks that copy: a consistent restore keeps CheckErrors at
// zero, an inconsistent one shows errors as soon as a stale page is read.
package synthetic

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"dcres/api"
	"dcres/pager"
)

// Memory is the guest's RAM; *pager.Pager satisfies it.
type Memory interface {
	Access(ctx context.Context, gfn uint64, write bool, fn func(page []byte)) error
}

// Patterns.
const (
	Uniform    = "uniform"    // every page equally likely
	HotCold    = "hotcold"    // HotFraction of the pages get 90% of the accesses
	Sequential = "sequential" // pages in order, wrapping
)

// Config describes a synthetic guest.
type Config struct {
	MemoryBytes int64   // a positive multiple of the page size
	Pattern     string  // Uniform (default), HotCold or Sequential
	DirtyRate   int64   // bytes written per second; 0 = no writes
	ReadRate    int64   // bytes read per second; 0 = 4x DirtyRate
	Seed        int64   // seeds the access sequence
	HotFraction float64 // HotCold only; default 0.1
	// OnError, if set, hears about check failures (a page that does not
	// match its version, or a memory access that failed): at most once per page
	// and at most maxReports times in all, so a broken restore cannot flood
	// the caller. CheckErrors counts every failure.
	OnError func(gfn uint64, err error)
}

const maxReports = 100

// Guest is one synthetic guest.
type Guest struct {
	cfg    Config
	mem    Memory
	npages uint64
	hot    uint64 // size of the hot set (HotCold)
	stride uint64 // permutation step that scatters the hot set over memory

	// mu is held by the workload for the whole of each access, so holding it
	// means no access is in progress. It guards everything below it.
	mu       sync.Mutex
	cond     *sync.Cond
	paused   bool
	state    string
	versions []uint32
	pcg      *rand.PCG
	rng      *rand.Rand
	cursor   uint64
	reported map[uint64]bool
	started  time.Time
	pausedAt time.Time // last time the workload waited in a pause

	pagesRead, pagesWritten, checkErrors atomic.Int64

	cancel context.CancelFunc
	done   chan struct{}
}

// New makes a guest, not yet running, with every page at version 0.
func New(cfg Config, mem Memory) (*Guest, error) {
	if mem == nil {
		return nil, errors.New("synthetic: no memory given")
	}
	if cfg.MemoryBytes <= 0 || cfg.MemoryBytes%api.PageSize != 0 {
		return nil, fmt.Errorf("synthetic: memory size %d is not a positive multiple of %d", cfg.MemoryBytes, api.PageSize)
	}
	switch cfg.Pattern {
	case "":
		cfg.Pattern = Uniform
	case Uniform, HotCold, Sequential:
	default:
		return nil, fmt.Errorf("synthetic: unknown pattern %q (want %s, %s or %s)", cfg.Pattern, Uniform, HotCold, Sequential)
	}
	if cfg.DirtyRate < 0 || cfg.ReadRate < 0 {
		return nil, fmt.Errorf("synthetic: negative rate (dirty %d, read %d)", cfg.DirtyRate, cfg.ReadRate)
	}
	if cfg.ReadRate == 0 {
		cfg.ReadRate = 4 * cfg.DirtyRate
	}
	if cfg.HotFraction <= 0 || cfg.HotFraction > 1 {
		cfg.HotFraction = 0.1
	}
	n := uint64(cfg.MemoryBytes / api.PageSize)
	g := &Guest{
		cfg: cfg, mem: mem, npages: n,
		hot:      max(1, uint64(float64(n)*cfg.HotFraction)),
		stride:   coprimeStride(n),
		state:    api.StateStarting,
		versions: make([]uint32, n),
		pcg:      rand.NewPCG(uint64(cfg.Seed), 0x6463726573), // "dcres"
		reported: map[uint64]bool{},
	}
	g.rng = rand.New(g.pcg)
	g.cond = sync.NewCond(&g.mu)
	return g, nil
}

// coprimeStride returns a step near n/phi that is coprime with n, so that
// i -> i*stride mod n is a permutation that spreads neighbours apart.
func coprimeStride(n uint64) uint64 {
	s := uint64(float64(n)*0.6180339887) | 1
	for gcd(s, n) != 1 {
		s += 2
	}
	return s % max(n, 1)
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Start runs the workload until Stop or ctx ends. Call it once.
func (g *Guest) Start(ctx context.Context) {
	g.mu.Lock()
	if g.done != nil {
		g.mu.Unlock()
		return
	}
	ctx, g.cancel = context.WithCancel(ctx)
	g.done = make(chan struct{})
	g.started = time.Now()
	g.state = api.StateRunning
	if g.paused {
		g.state = api.StatePaused
	}
	g.mu.Unlock()
	go g.run(ctx)
}

// Pause returns once no access is in progress; the workload then waits
// until Resume. Pause the guest before quiescing its pager.
func (g *Guest) Pause() {
	g.mu.Lock()
	g.paused = true
	if g.state == api.StateRunning {
		g.state = api.StatePaused
	}
	g.mu.Unlock()
}

// Resume lets a paused workload continue.
func (g *Guest) Resume() {
	g.mu.Lock()
	g.paused = false
	if g.state == api.StatePaused {
		g.state = api.StateRunning
	}
	g.cond.Broadcast()
	g.mu.Unlock()
}

// Stop ends the workload and waits for it.
func (g *Guest) Stop() {
	g.mu.Lock()
	cancel, done := g.cancel, g.done
	g.state = api.StateStopped
	g.cond.Broadcast()
	g.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Status returns the guest's counters. Faults and Evictions come from the
// memory when it is a pager.
func (g *Guest) Status() api.GuestStatus {
	g.mu.Lock()
	st := api.GuestStatus{Driver: "synthetic", State: g.state, MemoryBytes: g.cfg.MemoryBytes}
	if !g.started.IsZero() {
		st.Uptime = time.Since(g.started)
	}
	g.mu.Unlock()
	st.PagesRead = g.pagesRead.Load()
	st.PagesWritten = g.pagesWritten.Load()
	st.CheckErrors = g.checkErrors.Load()
	if p, ok := g.mem.(*pager.Pager); ok {
		ps := p.Stats()
		st.Faults, st.Evictions = int64(ps.Faults), int64(ps.Evictions)
	}
	return st
}

// Versions returns a copy of the version table.
func (g *Guest) Versions() []uint32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]uint32(nil), g.versions...)
}

// checkFailed counts a failed check and reports it within limits; g.mu held.
func (g *Guest) checkFailed(gfn uint64, err error) {
	g.checkErrors.Add(1)
	if g.cfg.OnError == nil || g.reported[gfn] || len(g.reported) >= maxReports {
		return
	}
	g.reported[gfn] = true
	g.cfg.OnError(gfn, err)
}
