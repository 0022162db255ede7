package pager

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"dcres/api"
)

// PageSize is the size of one guest page.
const PageSize = api.PageSize

// Run is a run of pages [Start, Start+Count).
type Run struct {
	Start uint64 `json:"start"`
	Count uint64 `json:"count"`
}

// Store holds the pages a host is home for. Its memory is one anonymous
// mapping the size of the whole guest address space, reserved lazily
// (MAP_NORESERVE), so a host pays only for the pages it actually holds and
// the page data is never scanned by the Go garbage collector.
//
// Presence and written bits are safe for concurrent use; the bytes of one
// page are not: the caller must not write a page while another goroutine
// reads or writes it (the Pager serialises access per page).
type Store struct {
	mem     []byte
	npages  uint64
	present *bitmap
	written *bitmap
	// epoch marks pages written since the last checkpoint's cut, for
	// incremental checkpoints; written serves the rounds of one checkpoint.
	epoch *bitmap
	count atomic.Uint64

	closeMu sync.Mutex
	closed  bool
}

// NewStore maps memory for a guest of npages pages.
func NewStore(npages uint64) (*Store, error) {
	if npages == 0 {
		return nil, errors.New("pager: store needs at least one page")
	}
	const maxPages = 1 << 36 // 256 TiB: beyond this the size no longer fits an int on every platform
	if npages > maxPages {
		return nil, fmt.Errorf("pager: store of %d pages is larger than the supported %d", npages, uint64(maxPages))
	}
	mem, err := unix.Mmap(-1, 0, int(npages*PageSize),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("pager: mapping %d MiB for the page store: %w (check the address-space limit, ulimit -v)", npages*PageSize>>20, err)
	}
	return &Store{mem: mem, npages: npages, present: newBitmap(npages), written: newBitmap(npages), epoch: newBitmap(npages)}, nil
}

// NPages is the size of the guest address space in pages.
func (s *Store) NPages() uint64 { return s.npages }

// Count is the number of pages held here.
func (s *Store) Count() uint64 { return s.count.Load() }

// Page returns page gfn's 4 KiB in place. A page that is not held reads as
// zeros; writing it through this slice does not make it held (use Put or
// MarkWritten).
func (s *Store) Page(gfn uint64) []byte {
	s.check(gfn, 1)
	off := gfn * PageSize
	return s.mem[off : off+PageSize : off+PageSize]
}

// Put stores data as page gfn, marks it held and written. Data shorter than a
// page is padded with zeros; longer data is a programming error.
func (s *Store) Put(gfn uint64, data []byte) {
	if len(data) > PageSize {
		panic(fmt.Sprintf("pager: Put of %d bytes into a %d-byte page", len(data), PageSize))
	}
	p := s.Page(gfn)
	n := copy(p, data)
	clear(p[n:])
	s.MarkWritten(gfn)
}

// MarkWritten records that page gfn was changed in place: it is held here
// from now on and will be reported by TakeWritten.
func (s *Store) MarkWritten(gfn uint64) {
	s.check(gfn, 1)
	if s.present.set(gfn) {
		s.count.Add(1)
	}
	s.written.set(gfn)
	s.epoch.set(gfn)
}

// Has reports whether page gfn is held here.
func (s *Store) Has(gfn uint64) bool {
	s.check(gfn, 1)
	return s.present.get(gfn)
}

// Drop releases pages [start, start+count): their memory goes back to the
// kernel and they are no longer held or reported as written. Use it when the
// pages' home moved elsewhere.
func (s *Store) Drop(start, count uint64) {
	if count == 0 {
		return
	}
	s.check(start, count)
	// Presence first: a concurrent Has may briefly say "not held" for a page
	// whose bytes are still there, never "held" for zeroed bytes.
	n := s.present.clearRange(start, count)
	s.count.Add(^(n - 1))
	s.written.clearRange(start, count)
	s.epoch.clearRange(start, count)
	b := s.mem[start*PageSize : (start+count)*PageSize]
	if err := unix.Madvise(b, unix.MADV_DONTNEED); err != nil {
		// Cannot fail for a private anonymous mapping we own; if it does,
		// zero by hand so the contract (dropped pages read as zeros) holds.
		clear(b)
	}
}

// Runs returns the held pages as runs in gfn order.
func (s *Store) Runs() []Run { return s.present.runs(false) }

// TakeWritten returns the pages written since the previous call (or since
// the store was made) and starts a new interval.
func (s *Store) TakeWritten() []Run { return s.written.runs(true) }

// TakeEpoch returns the pages written since the previous call: at a cut,
// what an incremental checkpoint must save since its parent.
func (s *Store) TakeEpoch() []Run { return s.epoch.runs(true) }

// RestoreEpoch marks runs as written since the cut again: a checkpoint that
// took them failed, so the next one must still save them.
func (s *Store) RestoreEpoch(runs []Run) {
	for _, r := range runs {
		for g := r.Start; g < r.Start+r.Count; g++ {
			s.epoch.set(g)
		}
	}
}

// WrittenCount is how many pages TakeWritten would report now.
func (s *Store) WrittenCount() uint64 {
	var n uint64
	for _, r := range s.written.runs(false) {
		n += r.Count
	}
	return n
}

// Close unmaps the memory. The store must not be used afterwards.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	mem := s.mem
	s.mem = nil
	if err := unix.Munmap(mem); err != nil {
		return fmt.Errorf("pager: unmapping the page store: %w", err)
	}
	return nil
}

func (s *Store) check(start, count uint64) {
	if start >= s.npages || count > s.npages-start {
		panic(fmt.Sprintf("pager: pages [%d, %d) outside the guest's %d pages", start, start+count, s.npages))
	}
}
