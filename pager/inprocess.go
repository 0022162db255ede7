package pager

import (
	"context"
	"fmt"
	"time"
)

// InProcess is a Remote whose hosts are Stores in this process: the
// transport of the embedded single-process mode (synthetic guest demos and
// simulations), where every "host" lives in one program. Latency, when set,
// is added to every message, as a crude stand-in for a link.
type InProcess struct {
	Stores  []*Store // indexed like the location table's hosts
	Latency time.Duration
}

func (r *InProcess) store(host int) (*Store, error) {
	if host < 0 || host >= len(r.Stores) || r.Stores[host] == nil {
		return nil, fmt.Errorf("pager: no in-process store for host %d", host)
	}
	return r.Stores[host], nil
}

func (r *InProcess) wait(ctx context.Context) error {
	if r.Latency <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(r.Latency)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Fetch copies pages from the host's store. Pages the store does not hold
// read as zeros (never written).
func (r *InProcess) Fetch(ctx context.Context, host int, start uint64, dst []byte) error {
	s, err := r.store(host)
	if err != nil {
		return err
	}
	if len(dst)%PageSize != 0 {
		return fmt.Errorf("pager: fetch buffer of %d bytes is not whole pages", len(dst))
	}
	if err := r.wait(ctx); err != nil {
		return err
	}
	n := uint64(len(dst) / PageSize)
	if start >= s.NPages() || n > s.NPages()-start {
		return fmt.Errorf("pager: fetch of pages [%d, %d) outside the guest's %d pages", start, start+n, s.NPages())
	}
	for k := range n {
		copy(dst[k*PageSize:], s.Page(start+k))
	}
	return nil
}

// WriteBack stores the pages in the host's store.
func (r *InProcess) WriteBack(ctx context.Context, host int, gfns []uint64, data []byte) error {
	s, err := r.store(host)
	if err != nil {
		return err
	}
	if len(data) != len(gfns)*PageSize {
		return fmt.Errorf("pager: write-back of %d pages carries %d bytes", len(gfns), len(data))
	}
	if err := r.wait(ctx); err != nil {
		return err
	}
	for k, g := range gfns {
		if g >= s.NPages() {
			return fmt.Errorf("pager: write-back of page %d outside the guest's %d pages", g, s.NPages())
		}
		s.Put(g, data[k*PageSize:(k+1)*PageSize])
	}
	return nil
}
