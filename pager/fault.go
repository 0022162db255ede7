package pager

import (
	"context"
	"fmt"
	"slices"
)

// pin returns the cache slot holding gfn, faulting it in when needed, with
// its pin count raised so it stays put until unpin.
func (p *Pager) pin(ctx context.Context, gfn uint64, home int, write bool) (int32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if i, ok := p.c.index[gfn]; ok {
			s := &p.c.slots[i]
			if s.state != slotReady {
				p.cond.Wait()
				continue
			}
			s.pins++
			s.ref = true
			if write && !s.dirty {
				s.dirty = true
				p.c.dirty++
			}
			return i, nil
		}
		if err := ctx.Err(); err != nil {
			return -1, err
		}
		if err := p.fault(ctx, gfn, home); err != nil {
			return -1, err
		}
	}
}

func (p *Pager) unpin(i int32) {
	p.mu.Lock()
	p.c.slots[i].pins--
	if p.c.slots[i].pins == 0 {
		p.cond.Broadcast()
	}
	p.mu.Unlock()
}

// fault tries once to bring gfn (and readahead neighbours) into the cache.
// Called and returns with p.mu held, but releases it for I/O; a nil error
// means "look again", not "gfn is cached".
func (p *Pager) fault(ctx context.Context, gfn uint64, home int) error {
	loc := p.loc.Load()
	lo, hi := p.segment(loc, gfn, home)
	got, dirty := p.c.reclaim(int(hi-lo), &p.stats)
	if len(dirty) > 0 {
		// Free what we took, make room by writing the victims home, and
		// start over: the world may have changed while unlocked.
		p.c.free = append(p.c.free, got...)
		return p.writeBackVictims(ctx, dirty)
	}
	if len(got) == 0 {
		p.cond.Wait() // every slot is pinned or in flight
		return nil
	}
	m := uint64(len(got))
	start := gfn
	if start+m > hi {
		start = hi - m
	}
	for k, i := range got {
		p.c.slots[i] = slot{gfn: start + uint64(k), state: slotLoading}
		p.c.index[start+uint64(k)] = i
	}
	p.mu.Unlock()
	bp := p.stage.Get().(*[]byte)
	buf := (*bp)[:m*PageSize]
	err := p.remote.Fetch(ctx, home, start, buf)
	if err == nil {
		for k, i := range got {
			copy(p.c.page(i), buf[k*PageSize:(k+1)*PageSize])
		}
	}
	p.stage.Put(bp)
	p.mu.Lock()
	defer p.cond.Broadcast()
	if err != nil {
		for _, i := range got {
			delete(p.c.index, p.c.slots[i].gfn)
			p.c.slots[i] = slot{}
			p.c.free = append(p.c.free, i)
		}
		return fmt.Errorf("pager: fetching pages [%d, %d) from host %s: %w", start, start+m, loc.hosts[home], err)
	}
	for _, i := range got {
		p.c.slots[i].state = slotReady
	}
	p.c.valid += m
	p.stats.Faults++
	p.stats.PagesIn += m
	return nil
}

// segment is the run of pages to fetch for a fault on gfn: within gfn's
// aligned readahead group, the contiguous pages around gfn that share its
// home and are not cached.
func (p *Pager) segment(loc *Locations, gfn uint64, home int) (lo, hi uint64) {
	ra := uint64(p.readahead)
	glo := gfn - gfn%ra
	ghi := min(glo+ra, loc.NPages())
	lo, hi = gfn, gfn+1
	for lo > glo && loc.Home(lo-1) == home && !p.cached(lo-1) {
		lo--
	}
	for hi < ghi && loc.Home(hi) == home && !p.cached(hi) {
		hi++
	}
	return lo, hi
}

func (p *Pager) cached(gfn uint64) bool { _, ok := p.c.index[gfn]; return ok }

// writeBackVictims writes busy victims home and frees their slots; on error
// they stay cached and dirty. Called and returns with p.mu held.
func (p *Pager) writeBackVictims(ctx context.Context, vs []victim) error {
	p.mu.Unlock()
	err := p.writeBack(ctx, vs)
	p.mu.Lock()
	defer p.cond.Broadcast()
	for _, v := range vs {
		s := &p.c.slots[v.slot]
		if err != nil {
			s.state = slotReady
			continue
		}
		delete(p.c.index, v.gfn)
		*s = slot{}
		p.c.free = append(p.c.free, v.slot)
		p.c.valid--
		p.c.dirty--
		p.stats.Evictions++
		p.stats.PagesOut++
	}
	return err
}

// writeBack sends the pages of busy slots to their homes, batched per host.
// The slots being busy keeps every accessor away while they are copied.
func (p *Pager) writeBack(ctx context.Context, vs []victim) error {
	loc := p.loc.Load()
	byHost := make(map[int][]victim)
	for _, v := range vs {
		h := loc.Home(v.gfn)
		byHost[h] = append(byHost[h], v)
	}
	bp := p.stage.Get().(*[]byte)
	defer p.stage.Put(bp)
	for h, list := range byHost {
		slices.SortFunc(list, func(a, b victim) int { return compareU64(a.gfn, b.gfn) })
		for len(list) > 0 {
			n := min(len(list), p.batch)
			gfns := make([]uint64, n)
			data := (*bp)[:n*PageSize]
			for k, v := range list[:n] {
				gfns[k] = v.gfn
				copy(data[k*PageSize:], p.c.page(v.slot))
			}
			if err := p.remote.WriteBack(ctx, h, gfns, data); err != nil {
				return fmt.Errorf("pager: writing %d dirty pages back to host %s: %w", n, loc.hosts[h], err)
			}
			list = list[n:]
		}
	}
	return nil
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
