package fusemem

import (
	"context"
	"fmt"
)

// Flush makes the kernel write back every dirty page of node name now (an
// fsync of the server's own descriptor), so that when it returns the Backend
// holds the newest copy of every page written before the call. Pages the
// guest dirties while Flush runs may or may not be included: stop the guest
// first when that matters.
func (m *Mount) Flush(ctx context.Context, name string) error {
	return m.FlushTo(ctx, name, nil)
}

// FlushTo is Flush with every WRITE of the node, for the duration of the
// call, going to sink instead of Backend.WriteAt: the capture mode for a
// checkpoint, where the main host's dirty pages go into its own piece rather
// than home. sink gets whole pages at page-aligned offsets and must copy p
// if it keeps it. A sink error fails that WRITE (the kernel keeps the page
// marked in error, fsync reports EIO) and reaches OnError. A nil sink is
// Flush.
//
// If ctx ends first, FlushTo returns its error at once and stops routing to
// sink; the fsync it started finishes in the background (Close waits for it)
// and its remaining WRITEs go to the Backend.
func (m *Mount) FlushTo(ctx context.Context, name string, sink func(off int64, p []byte) error) error {
	n, err := m.node(name)
	if err != nil {
		return err
	}
	n.flushMu.Lock()
	defer n.flushMu.Unlock()
	if sink != nil {
		n.sinkMu.Lock()
		n.sink = sink
		n.sinkMu.Unlock()
		defer func() {
			// Taking the write lock waits for WRITEs still inside sink.
			n.sinkMu.Lock()
			n.sink = nil
			n.sinkMu.Unlock()
		}()
	}
	return m.fsync(ctx, n)
}

// fsync runs fsync(2) on the node's pin without letting a stuck Backend hold
// the caller past ctx. The kernel writes every dirty page of the file back
// (WRITEs served by this process) before it sends FSYNC.
func (m *Mount) fsync(ctx context.Context, n *node) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if n.pin == nil {
		return fmt.Errorf("fusemem: node %s is not open (mount closed?)", n.name)
	}
	done := make(chan error, 1)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		done <- n.pin.Sync()
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("fusemem: flush node %s: %w (a write-back failed; OnError names the range)", n.name, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("fusemem: flush node %s: %w", n.name, ctx.Err())
	}
}

// Evict drops [off, off+length) of node name from the kernel's cache, after
// writing its dirty pages back, so that the next access READs from the
// Backend again (e.g. after a page changed home, or to bound the cache).
// The range is widened to whole pages.
func (m *Mount) Evict(ctx context.Context, name string, off, length int64) error {
	n, err := m.node(name)
	if err != nil {
		return err
	}
	if err := n.checkRange(off, length); err != nil {
		return err
	}
	a0, a1 := pageDown(off), pageUp(off+length)
	n.flushMu.Lock()
	defer n.flushMu.Unlock()
	// fsync first: notify_inval would write dirty pages back one synchronous
	// 4 KiB WRITE at a time, about 6x slower than one fsync.
	if err := m.fsync(ctx, n); err != nil {
		return err
	}
	if errno := n.NotifyContent(a0, a1-a0); errno != 0 {
		return fmt.Errorf("fusemem: evict node %s [%d,%d): %w", name, a0, a1, errno)
	}
	return nil
}

// pushChunk bounds one notify_store write to /dev/fuse.
const pushChunk = 16 << 20

// Push stores data into the kernel's cache of node name at off (page
// aligned, whole pages), so the guest finds those pages without a READ: the
// prefill of a restore. The pages are clean as far as the kernel knows and
// may be dropped at any time, so the Backend must already hold the same
// bytes. Pushing over a page the guest has dirtied would overwrite the
// guest's data: push before the guest runs, or only pages known clean.
func (m *Mount) Push(name string, off int64, data []byte) error {
	n, err := m.node(name)
	if err != nil {
		return err
	}
	if err := n.checkRange(off, int64(len(data))); err != nil {
		return err
	}
	if off%PageSize != 0 || len(data)%PageSize != 0 {
		return fmt.Errorf("fusemem: push to node %s at %d, %d bytes: offset and length must be whole pages", name, off, len(data))
	}
	for len(data) > 0 {
		c := min(len(data), pushChunk)
		if errno := n.WriteCache(off, data[:c]); errno != 0 {
			return fmt.Errorf("fusemem: push to node %s at %d: %w", name, off, errno)
		}
		data, off = data[c:], off+int64(c)
	}
	return nil
}

func (n *node) checkRange(off, length int64) error {
	if off < 0 || length <= 0 || off+length > n.size {
		return fmt.Errorf("fusemem: range [%d,+%d) is outside node %s (size %d)", off, length, n.name, n.size)
	}
	return nil
}
