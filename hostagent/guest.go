package hostagent

import (
	"context"

	"dcres/api"
	"dcres/pager"
)

// guest is the main host's guest, whichever driver runs it. The checkpoint
// and restore code sees only this: the pages held here, the pages newer than
// their homes' copies, and the guest's life cycle.
type guest interface {
	// start runs the guest: a fresh boot when deviceState is "", else the
	// guest of a restored checkpoint, whose pages are already loaded.
	start(ctx context.Context, deviceState string) error
	// pause stops the guest and waits until no page is in flight between
	// hosts; resume lets both go on.
	pause(ctx context.Context) error
	resume(ctx context.Context) error

	// homeRuns, homePage and putHome are the pages homed on this host.
	homeRuns() []pager.Run
	homePage(g uint64) []byte
	putHome(g uint64, page []byte)
	// dirtyCached lists, sorted, the pages held here that are newer than
	// their homes' copies (they win at a cut); call while paused.
	dirtyCached() []uint64
	cachedPage(g uint64) []byte
	// syncWrites brings the store's written marks up to date with writes
	// that did not pass through it, before a round or a cut takes them; an
	// error means such writes cannot be seen, and live and incremental
	// checkpoints are refused with it.
	syncWrites(ctx context.Context) error
	// unsyncedPages counts the pages written since the last syncWrites that
	// it has not marked yet (for a round's report of what is still dirty).
	unsyncedPages() uint64

	// saveDeviceState writes what the guest needs besides its memory.
	saveDeviceState(ctx context.Context, path string) error
	// saveStream is QEMU's own full migration stream (method qemu-stream);
	// it returns the bytes fetched from other hosts to write it.
	saveStream(ctx context.Context, path string) (int64, error)

	status() api.GuestStatus
	verify(ctx context.Context) (pages, errors int64, err error)
	paging() pagingStats
	close()
}

// pagingStats are cumulative paging counters of the main host.
type pagingStats struct {
	CachedPages, DirtyPages uint64
	PagesIn, PagesOut       uint64
	// WrittenByHost is the bytes the guest wrote to pages homed at each host.
	WrittenByHost []uint64
	// DirtyRate is the whole guest's dirty rate where the driver measures it
	// directly (bytes/s; 0 when unknown).
	DirtyRate float64
}

// Pages homed here, for any host: the guest's view on the main host, the
// store elsewhere.

func (v *vm) homeRuns() []pager.Run {
	if v.guest != nil {
		return v.guest.homeRuns()
	}
	return v.store.Runs()
}

func (v *vm) homePage(g uint64) []byte {
	if v.guest != nil {
		return v.guest.homePage(g)
	}
	if !v.store.Has(g) {
		return zeroPage[:]
	}
	return v.store.Page(g)
}

func (v *vm) putHome(g uint64, page []byte) {
	if v.guest != nil {
		v.guest.putHome(g, page)
		return
	}
	v.store.Put(g, page)
}

var zeroPage [api.PageSize]byte
