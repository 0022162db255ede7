package hostagent

import (
	"context"
	"fmt"

	"dcres/agentrpc"
	"dcres/api"
)

// qemuBackend serves one remote NUMA node's FUSE file: a READ fetches the
// pages from their homes (or the overlay, or this host's store), a WRITE
// (the kernel's writeback of dirty pages) sends them home.
type qemuBackend struct {
	g *qemuGuest
	n *qemuNode
}

// ReadAt fills p with the pages at byte offset off of the node.
func (b *qemuBackend) ReadAt(ctx context.Context, p []byte, off int64) error {
	b.g.gate.RLock()
	defer b.g.gate.RUnlock()
	v := b.g.v
	first := b.n.base + uint64(off)/api.PageSize
	count := uint64(len(p)) / api.PageSize
	// Runs of pages with the same home, fetched in as few calls as possible.
	for i := uint64(0); i < count; {
		gfn := first + i
		page := p[i*api.PageSize : (i+1)*api.PageSize]
		if b.g.ov.copyTo(gfn, page) {
			i++
			continue
		}
		home := v.loc.Home(gfn)
		if home == v.self {
			copy(page, v.homePage(gfn))
			i++
			continue
		}
		j := i + 1
		for j < count && j-i < agentrpc.MaxPagesPerCall && v.loc.Home(first+j) == home && b.g.ov.get(first+j) == nil {
			j++
		}
		if err := v.fetch(ctx, home, gfn, p[i*api.PageSize:j*api.PageSize]); err != nil {
			err = fmt.Errorf("from %s: %w", v.setup.Hosts[home], err)
			b.g.homeFailed(b.n, home, "fetching pages", err)
			return err
		}
		b.g.fetched.Add(int64((j - i) * api.PageSize))
		i = j
	}
	return nil
}

// WriteAt sends dirty pages home, replacing any older copy in the overlay.
func (b *qemuBackend) WriteAt(ctx context.Context, p []byte, off int64) error {
	b.g.gate.RLock()
	defer b.g.gate.RUnlock()
	v := b.g.v
	first := b.n.base + uint64(off)/api.PageSize
	count := uint64(len(p)) / api.PageSize
	return b.g.ov.write(first, count, func() error {
		for i := uint64(0); i < count; {
			gfn := first + i
			home := v.loc.Home(gfn)
			j := i + 1
			for j < count && j-i < agentrpc.MaxPagesPerCall && v.loc.Home(first+j) == home {
				j++
			}
			data := p[i*api.PageSize : j*api.PageSize]
			b.g.written[home].Add(uint64(len(data)))
			if home == v.self {
				for k := i; k < j; k++ {
					v.store.Put(first+k, p[k*api.PageSize:(k+1)*api.PageSize])
				}
			} else {
				gfns := make([]uint64, 0, j-i)
				for k := i; k < j; k++ {
					gfns = append(gfns, first+k)
				}
				if err := (&peerRemote{v: v}).WriteBack(ctx, home, gfns, data); err != nil {
					err = fmt.Errorf("to %s: %w", v.setup.Hosts[home], err)
					b.g.homeFailed(b.n, home, "writing pages back", err)
					return err
				}
			}
			i = j
		}
		return nil
	})
}
