package pager

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Remote is how the main host reaches a page's home; the host agent
// implements it over its peer links.
type Remote interface {
	// Fetch fills dst with len(dst)/PageSize pages starting at start, from
	// host's store.
	Fetch(ctx context.Context, host int, start uint64, dst []byte) error
	// WriteBack stores dirty pages at host: gfns[i] gets
	// data[i*PageSize:(i+1)*PageSize].
	WriteBack(ctx context.Context, host int, gfns []uint64, data []byte) error
}

// Config describes a Pager.
type Config struct {
	Locations *Locations
	LocalHost int    // index of this host in Locations
	Local     *Store // pages homed on this host
	// CacheBudgetPages is how many remote pages the cache may hold: the main
	// host's memory beyond its home share. At least 1 when any page is
	// homed elsewhere.
	CacheBudgetPages int
	Readahead        int // pages fetched per fault, an aligned group; default 32
	WriteBackBatch   int // pages per write-back message; default 64
	Remote           Remote
}

// Stats are the pager's counters; all but CachedPages and DirtyPages are
// cumulative.
type Stats struct {
	CachedPages, DirtyPages              uint64
	Faults, PagesIn, PagesOut, Evictions uint64
	WrittenByHost                        []uint64 // bytes written to pages homed at host i
}

// Pager gives the guest its pages on the main host. See the package doc.
type Pager struct {
	loc       atomic.Pointer[Locations]
	local     *Store
	localHost int
	remote    Remote
	readahead int
	batch     int
	written   []atomic.Uint64

	gate gate
	// pageLocks serialise fn calls on one page, so that concurrent writers
	// of a page never tear it. Striped: unrelated pages may share a lock.
	pageLocks [256]sync.Mutex
	stage     sync.Pool // *[]byte staging buffers for fetch and write-back

	mu    sync.Mutex // guards everything below
	cond  *sync.Cond // broadcast on every slot state change
	c     cache
	stats Stats
}

// New makes a pager.
func New(cfg Config) (*Pager, error) {
	loc := cfg.Locations
	if loc == nil {
		return nil, errors.New("pager: Config.Locations is nil")
	}
	nhosts := len(loc.hosts)
	if cfg.LocalHost < 0 || cfg.LocalHost >= nhosts {
		return nil, fmt.Errorf("pager: LocalHost %d is not one of the table's %d hosts", cfg.LocalHost, nhosts)
	}
	if cfg.Local == nil {
		return nil, errors.New("pager: Config.Local is nil; the main host needs a store for its home pages")
	}
	if cfg.Local.NPages() != loc.NPages() {
		return nil, fmt.Errorf("pager: local store has %d pages but the location table %d", cfg.Local.NPages(), loc.NPages())
	}
	allLocal := true
	for _, r := range loc.Ranges() {
		if r.Host != loc.hosts[cfg.LocalHost] {
			allLocal = false
			break
		}
	}
	if !allLocal && cfg.Remote == nil {
		return nil, errors.New("pager: some pages are homed on other hosts but Config.Remote is nil")
	}
	if !allLocal && cfg.CacheBudgetPages < 1 {
		return nil, fmt.Errorf("pager: CacheBudgetPages is %d; the main host needs room for at least one remote page", cfg.CacheBudgetPages)
	}
	if cfg.CacheBudgetPages < 0 {
		cfg.CacheBudgetPages = 0
	}
	if cfg.Readahead <= 0 {
		cfg.Readahead = 32
	}
	if cfg.WriteBackBatch <= 0 {
		cfg.WriteBackBatch = 64
	}
	p := &Pager{
		local:     cfg.Local,
		localHost: cfg.LocalHost,
		remote:    cfg.Remote,
		readahead: cfg.Readahead,
		batch:     cfg.WriteBackBatch,
		written:   make([]atomic.Uint64, nhosts),
	}
	p.cond = sync.NewCond(&p.mu)
	stageLen := max(cfg.Readahead, cfg.WriteBackBatch) * PageSize
	p.stage.New = func() any { b := make([]byte, stageLen); return &b }
	if err := p.c.init(cfg.CacheBudgetPages); err != nil {
		return nil, err
	}
	p.loc.Store(loc)
	return p, nil
}

// Locations returns the current location table.
func (p *Pager) Locations() *Locations { return p.loc.Load() }

// Access gives fn page gfn, faulting it in from its home first when it is
// neither local nor cached. With write, the page is recorded as changed:
// in the local store's written set, or dirty in the cache. fn must not keep
// the slice, and must not call Access itself. Safe for concurrent use; fn
// calls on one page never overlap.
func (p *Pager) Access(ctx context.Context, gfn uint64, write bool, fn func(page []byte)) error {
	if err := p.gate.enter(ctx); err != nil {
		return err
	}
	defer p.gate.leave()
	loc := p.loc.Load()
	if gfn >= loc.NPages() {
		return fmt.Errorf("pager: page %d is outside the guest's %d pages", gfn, loc.NPages())
	}
	home := loc.Home(gfn)
	lock := &p.pageLocks[(gfn*0x9E3779B97F4A7C15)>>56]
	if home == p.localHost {
		lock.Lock()
		fn(p.local.Page(gfn))
		if write {
			p.local.MarkWritten(gfn)
		}
		lock.Unlock()
	} else {
		i, err := p.pin(ctx, gfn, home, write)
		if err != nil {
			return err
		}
		lock.Lock()
		fn(p.c.page(i))
		lock.Unlock()
		p.unpin(i)
	}
	if write {
		p.written[home].Add(PageSize)
	}
	return nil
}

// Stats returns the current counters.
func (p *Pager) Stats() Stats {
	p.mu.Lock()
	s := p.stats
	s.CachedPages = p.c.valid
	s.DirtyPages = p.c.dirty
	p.mu.Unlock()
	s.WrittenByHost = make([]uint64, len(p.written))
	for i := range p.written {
		s.WrittenByHost[i] = p.written[i].Load()
	}
	return s
}

// Reset drops the whole cache (dirty pages are discarded, not written home)
// and installs a new location table, e.g. after a restore. Call it while
// quiesced.
func (p *Pager) Reset(loc *Locations) error {
	if loc == nil {
		return errors.New("pager: Reset with a nil location table")
	}
	if loc.NPages() != p.local.NPages() || len(loc.hosts) != len(p.written) {
		return fmt.Errorf("pager: Reset with a table of %d pages and %d hosts; the pager has %d pages and %d hosts",
			loc.NPages(), len(loc.hosts), p.local.NPages(), len(p.written))
	}
	p.mu.Lock()
	p.c.reset()
	p.loc.Store(loc)
	p.cond.Broadcast()
	p.mu.Unlock()
	return nil
}

// Close releases the cache's memory. The local store is the caller's to
// close.
func (p *Pager) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c.slab == nil {
		return nil
	}
	err := unix.Munmap(p.c.slab)
	p.c.slab = nil
	if err != nil {
		return fmt.Errorf("pager: unmapping the cache: %w", err)
	}
	return nil
}
