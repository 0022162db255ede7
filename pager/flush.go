package pager

import (
	"context"
	"fmt"
	"slices"
)

// FlushDirty writes every page that is dirty in the cache when it is called
// home, and keeps it cached, now clean. Pages dirtied again meanwhile stay
// dirty. Normally called while quiesced.
func (p *Pager) FlushDirty(ctx context.Context) error {
	todo := p.DirtyCached()
	for len(todo) > 0 {
		n := min(len(todo), p.batch)
		if err := p.flushBatch(ctx, todo[:n]); err != nil {
			return err
		}
		todo = todo[n:]
	}
	return nil
}

func (p *Pager) flushBatch(ctx context.Context, gfns []uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var vs []victim
	for _, g := range gfns {
		for {
			i, ok := p.c.index[g]
			if !ok || !p.c.slots[i].dirty {
				break // evicted (and so written) or cleaned meanwhile
			}
			s := &p.c.slots[i]
			if s.state != slotReady || s.pins > 0 {
				p.cond.Wait()
				continue
			}
			s.state = slotBusy
			vs = append(vs, victim{i, g})
			break
		}
	}
	if len(vs) == 0 {
		return nil
	}
	p.mu.Unlock()
	err := p.writeBack(ctx, vs)
	p.mu.Lock()
	defer p.cond.Broadcast()
	for _, v := range vs {
		s := &p.c.slots[v.slot]
		s.state = slotReady
		if err == nil {
			s.dirty = false
			p.c.dirty--
			p.stats.PagesOut++
		}
	}
	return err
}

// DirtyCached returns the gfns of the dirty cached pages, sorted. Call it
// while quiesced for a stable answer.
func (p *Pager) DirtyCached() []uint64 {
	p.mu.Lock()
	var out []uint64
	for g, i := range p.c.index {
		if s := &p.c.slots[i]; s.dirty && (s.state == slotReady || s.state == slotBusy) {
			out = append(out, g)
		}
	}
	p.mu.Unlock()
	slices.Sort(out)
	return out
}

// CachedPage returns the cached copy of gfn in place, or nil when gfn is not
// cached. Only while quiesced: the slice is reused after an eviction.
func (p *Pager) CachedPage(gfn uint64) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.c.index[gfn]
	if !ok || p.c.slots[i].state != slotReady {
		return nil
	}
	return p.c.page(i)
}

// InstallCached puts data into the cache as page gfn (a restore's main-piece
// override: newer than the page's home copy when dirty). A page homed on
// this host goes into the local store instead. When the cache is full, a
// victim is evicted; a dirty victim is written home first, which can fail.
// Call it while quiesced.
func (p *Pager) InstallCached(gfn uint64, data []byte, dirty bool) error {
	loc := p.loc.Load()
	if gfn >= loc.NPages() {
		return fmt.Errorf("pager: page %d is outside the guest's %d pages", gfn, loc.NPages())
	}
	if len(data) > PageSize {
		return fmt.Errorf("pager: InstallCached of %d bytes into a %d-byte page", len(data), PageSize)
	}
	if loc.Home(gfn) == p.localHost {
		p.local.Put(gfn, data)
		return nil
	}
	if len(p.c.slots) == 0 {
		return fmt.Errorf("pager: cannot cache page %d: the cache budget is zero", gfn)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if i, ok := p.c.index[gfn]; ok {
			s := &p.c.slots[i]
			if s.state != slotReady || s.pins > 0 {
				p.cond.Wait()
				continue
			}
			p.fill(i, data, dirty)
			return nil
		}
		got, victims := p.c.reclaim(1, &p.stats)
		if len(victims) > 0 {
			p.c.free = append(p.c.free, got...)
			if err := p.writeBackVictims(context.Background(), victims); err != nil {
				return err
			}
			continue
		}
		if len(got) == 0 {
			p.cond.Wait()
			continue
		}
		i := got[0]
		p.c.slots[i] = slot{gfn: gfn, state: slotReady}
		p.c.index[gfn] = i
		p.c.valid++
		p.fill(i, data, dirty)
		return nil
	}
}

// fill sets a ready slot's content and dirtiness; p.mu held.
func (p *Pager) fill(i int32, data []byte, dirty bool) {
	pg := p.c.page(i)
	n := copy(pg, data)
	clear(pg[n:])
	s := &p.c.slots[i]
	switch {
	case dirty && !s.dirty:
		p.c.dirty++
	case !dirty && s.dirty:
		p.c.dirty--
	}
	s.dirty = dirty
	s.ref = true
}
