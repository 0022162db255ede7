package hostagent

import (
	"context"
	"fmt"

	"dcres/api"
	"dcres/writetrack"
)

// QEMU writes its local (/dev/shm) nodes directly, past every pager, so the
// agent watches them with a write-protect userfaultfd (package writetrack)
// and copies what each scan reports into the store's written marks, where
// the rounds and the increments look. Pages of remote nodes reach their
// homes' marks through write-back instead.

// trackWrites starts write tracking of every local node of QEMU process
// pid. It must run before the guest's first write that a checkpoint has to
// see: right after QEMU starts, before a restored guest continues. Failing
// is not fatal: the guest runs, and live and incremental checkpoints are
// refused with the reason.
func (g *qemuGuest) trackWrites(pid int) {
	var tracks []nodeTrack
	var err error
	for _, n := range g.nodes {
		if !n.local {
			continue
		}
		var t *writetrack.Tracker
		if t, err = writetrack.Attach(pid, n.shm, int64(n.pages)*api.PageSize); err != nil {
			break
		}
		tracks = append(tracks, nodeTrack{n, t})
	}
	g.mu.Lock()
	g.tracks, g.trackErr = tracks, err
	g.mu.Unlock()
	if err != nil {
		g.untrack(err)
		g.v.a.logf(api.Warn, "VM %s: live and incremental checkpoints are off: %v", g.v.name, err)
	}
}

// nodeTrack is the write tracking of one local node.
type nodeTrack struct {
	n *qemuNode
	t *writetrack.Tracker
}

// untrack ends write tracking, for the reason why (nil: the guest ends).
func (g *qemuGuest) untrack(why error) {
	g.mu.Lock()
	tracks := g.tracks
	g.tracks = nil
	if why != nil {
		g.trackErr = why
	}
	g.mu.Unlock()
	for _, nt := range tracks {
		nt.t.Close()
	}
}

// syncWrites marks the pages QEMU wrote to its local nodes since the last
// call, and, while the guest runs, sends the remote nodes' dirty pages home
// (where their homes mark them), so that a round's final pause finds little
// left to flush. A scan failure ends tracking for this guest's life: a mark
// missed once cannot be recovered.
func (g *qemuGuest) syncWrites(ctx context.Context) error {
	g.mu.Lock()
	err, gated, mount, tracks := g.trackErr, g.gated, g.mount, g.tracks
	g.mu.Unlock()
	if err == nil && tracks == nil {
		err = fmt.Errorf("QEMU is not running")
	}
	if err != nil {
		return fmt.Errorf("QEMU's writes to the main host's shared-memory node cannot be tracked (%v): use a stop-and-copy, full checkpoint", err)
	}
	for _, nt := range tracks {
		n := nt.n
		err := nt.t.Scan(func(first, count uint64) {
			for i := range count {
				g.v.store.MarkWritten(n.base + first + i)
			}
		})
		if err != nil {
			g.untrack(err)
			return fmt.Errorf("write tracking of node %d failed (%v): use a stop-and-copy, full checkpoint", n.index, err)
		}
	}
	if !gated && mount != nil {
		for _, n := range g.nodes {
			if !n.local {
				if err := mount.Flush(ctx, n.name); err != nil {
					return fmt.Errorf("sending remote memory %s home: %w", n.name, err)
				}
			}
		}
	}
	return nil
}

// unsyncedPages counts what the local nodes' trackers hold but syncWrites
// has not marked yet. Dirty pages of remote nodes still in this host's
// cache are not counted: the next round sends them home first.
func (g *qemuGuest) unsyncedPages() uint64 {
	g.mu.Lock()
	tracks := g.tracks
	g.mu.Unlock()
	var n uint64
	for _, nt := range tracks {
		if k, err := nt.t.Pending(); err == nil {
			n += k
		}
	}
	return n
}
