package pager

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Slot states. A page is visible to Access only when its slot is ready;
// loading (being fetched) and busy (being written home) make accessors wait,
// so a page is never fetched twice nor read while its home copy is stale.
const (
	slotFree uint8 = iota
	slotLoading
	slotReady
	slotBusy
)

type slot struct {
	gfn   uint64
	state uint8
	ref   bool // CLOCK's second-chance bit
	dirty bool
	pins  int32 // Access calls using the page now; a pinned slot is never evicted
}

// cache is the main host's copy of remote pages: fixed slots in one mmap'd
// slab. All fields are guarded by Pager.mu.
type cache struct {
	slab  []byte
	slots []slot
	free  []int32
	index map[uint64]int32
	hand  int
	valid uint64 // slots ready or busy
	dirty uint64
}

func (c *cache) init(n int) error {
	c.slots = make([]slot, n)
	c.index = make(map[uint64]int32, n)
	if n > 0 {
		slab, err := unix.Mmap(-1, 0, n*PageSize, unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
		if err != nil {
			return fmt.Errorf("pager: mapping a cache of %d pages: %w (lower CacheBudgetPages)", n, err)
		}
		c.slab = slab
	}
	c.reset()
	return nil
}

func (c *cache) reset() {
	clear(c.index)
	c.free = c.free[:0]
	for i := len(c.slots) - 1; i >= 0; i-- {
		c.slots[i] = slot{}
		c.free = append(c.free, int32(i))
	}
	c.hand, c.valid, c.dirty = 0, 0, 0
	if c.slab != nil {
		if err := unix.Madvise(c.slab, unix.MADV_DONTNEED); err != nil {
			clear(c.slab) // only the memory is not returned; contents are reset either way
		}
	}
}

func (c *cache) page(i int32) []byte {
	off := int(i) * PageSize
	return c.slab[off : off+PageSize : off+PageSize]
}

// victim is a slot chosen for write-back, with its gfn read under the lock.
type victim struct {
	slot int32
	gfn  uint64
}

// reclaim finds up to want slots: free ones first, then clean pages by
// CLOCK. Dirty pages the hand would evict are marked busy and returned as
// victims instead; they must be written home before their slots are free.
func (c *cache) reclaim(want int, st *Stats) (got []int32, dirty []victim) {
	for len(got) < want && len(c.free) > 0 {
		got = append(got, c.free[len(c.free)-1])
		c.free = c.free[:len(c.free)-1]
	}
	n := len(c.slots)
	// Two sweeps: the first may only clear reference bits.
	for steps := 0; len(got)+len(dirty) < want && steps < 2*n; steps++ {
		i := int32(c.hand)
		c.hand = (c.hand + 1) % n
		s := &c.slots[i]
		if s.state != slotReady || s.pins > 0 {
			continue
		}
		if s.ref {
			s.ref = false
			continue
		}
		if s.dirty {
			s.state = slotBusy
			dirty = append(dirty, victim{i, s.gfn})
			continue
		}
		delete(c.index, s.gfn)
		*s = slot{}
		c.valid--
		st.Evictions++
		got = append(got, i)
	}
	return got, dirty
}
