package hostagent

import (
	"sort"
	"sync"

	"dcres/api"
)

// overlay holds pages of remote nodes that are newer than their homes'
// copies: the dirty pages the kernel handed over at a checkpoint's pause.
// They are served from here until they have been sent home. One lock orders
// a page's trips home: a page leaves the overlay only after its home holds
// it, and a newer write of the page (through the backend) replaces it first.
type overlay struct {
	mu    sync.Mutex
	pages map[uint64][]byte
}

func newOverlay() *overlay { return &overlay{pages: map[uint64][]byte{}} }

func (o *overlay) put(g uint64, p []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	buf := o.pages[g]
	if buf == nil {
		buf = make([]byte, api.PageSize)
	}
	copy(buf, p)
	o.pages[g] = buf
}

// get returns the page (nil when not held); the caller must not keep it
// past the next change.
func (o *overlay) get(g uint64) []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pages[g]
}

// copyTo copies page g into dst if held.
func (o *overlay) copyTo(g uint64, dst []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.pages[g]
	if p == nil {
		return false
	}
	copy(dst, p)
	return true
}

func (o *overlay) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pages)
}

func (o *overlay) list() []uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]uint64, 0, len(o.pages))
	for g := range o.pages {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// settle sends page g home with send and, if that worked, drops it. The lock
// is held across send so a concurrent write of g cannot be overtaken.
func (o *overlay) settle(g uint64, send func(p []byte) error) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.pages[g]
	if p == nil {
		return nil
	}
	if err := send(p); err != nil {
		return err
	}
	delete(o.pages, g)
	return nil
}

// write runs a newer write of pages [first, first+n) under the lock and
// drops any older copies of them.
func (o *overlay) write(first, n uint64, send func() error) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := send(); err != nil {
		return err
	}
	for g := first; g < first+n; g++ {
		delete(o.pages, g)
	}
	return nil
}
