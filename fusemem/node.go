package fusemem

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// node is one RAM file. It keeps no data of its own: every READ is answered
// from the Backend and every WRITE goes to the Backend or the current sink,
// because the kernel may drop clean cached pages at any time.
type node struct {
	fs.Inode

	name string
	size int64
	be   Backend
	m    *Mount

	reads, readBytes, writes, writeBytes, errs atomic.Uint64

	// sinkMu is held for reading across every WRITE, so that once FlushTo
	// has taken it for writing to clear the sink, no WRITE is still inside
	// the old sink.
	sinkMu sync.RWMutex
	sink   func(off int64, p []byte) error

	// flushMu serialises Flush, FlushTo and Evict on this node.
	flushMu sync.Mutex

	// pin is the server's own open file: it keeps the inode known to the
	// kernel (notify_store and notify_inval need that) and gives Flush a
	// descriptor to fsync.
	pin *os.File
}

var (
	_ fs.NodeOpener    = (*node)(nil)
	_ fs.NodeGetattrer = (*node)(nil)
	_ fs.NodeSetattrer = (*node)(nil)
	_ fs.NodeReader    = (*node)(nil)
	_ fs.NodeWritever  = (*node)(nil)
	_ fs.NodeFsyncer   = (*node)(nil)
	_ fs.NodeFlusher   = (*node)(nil)
)

// Open always keeps the page cache: without FOPEN_KEEP_CACHE every open
// (QEMU's, the server's own) would drop pages pushed or already faulted in.
// direct_io is never used: QEMU cannot map such a file.
//
// The server's own opens (its pins) also get FOPEN_NOFLUSH: when a killed
// agent's files are closed by the kernel, a FLUSH (and the writeback before
// it) would wait forever for the very process that is exiting, leaving it
// unkillable and the mount unrecoverable.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	out := uint32(fuse.FOPEN_KEEP_CACHE)
	if fc, ok := ctx.(*fuse.Context); ok && ownThread(fc.Caller.Pid) {
		out |= fuse.FOPEN_NOFLUSH
	}
	return nil, out, 0
}

// ownThread reports whether the kernel thread id tid (FUSE sends the
// caller's thread id, not its process id) belongs to this process.
func ownThread(tid uint32) bool {
	_, err := os.Stat("/proc/self/task/" + strconv.FormatUint(uint64(tid), 10))
	return err == nil
}

func (n *node) fillAttr(a *fuse.Attr) {
	a.Mode = syscall.S_IFREG | 0o600
	a.Size = uint64(n.size)
	a.Blocks = uint64(n.size / 512)
	a.Blksize = PageSize
	a.Nlink = 1
}

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fillAttr(&out.Attr)
	return 0
}

// Setattr accepts only what leaves the node as it is: the size of guest RAM
// is fixed by the NodeSpec (QEMU truncates only a file whose size is wrong).
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if sz, ok := in.GetSize(); ok && int64(sz) != n.size {
		n.m.logf("fusemem: node %s: refused resize to %d (size is fixed at %d)", n.name, sz, n.size)
		return syscall.EINVAL
	}
	n.fillAttr(&out.Attr)
	return 0
}

func (n *node) Read(ctx context.Context, f fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= n.size || len(dest) == 0 {
		return fuse.ReadResultData(nil), 0
	}
	end := min(off+int64(len(dest)), n.size)
	a0, a1 := pageDown(off), pageUp(end)
	buf := dest[:end-off]
	if a0 != off || a1 != end {
		// A read(2) at an odd offset: the Backend only deals in pages.
		buf = make([]byte, a1-a0)
	}
	if err := n.be.ReadAt(ctx, buf, a0); err != nil {
		n.fail(a0, fmt.Errorf("read %d bytes: %w", len(buf), err))
		return nil, syscall.EIO
	}
	n.reads.Add(1)
	n.readBytes.Add(uint64(len(buf)))
	return fuse.ReadResultData(buf[off-a0 : end-a0]), 0
}

// Writev receives writeback of dirty pages (always whole pages) and write(2)
// calls. An unaligned write(2) is refused: a read-modify-write through the
// Backend could overwrite newer bytes that are dirty in the kernel's cache.
func (n *node) Writev(ctx context.Context, f fs.FileHandle, data [][]byte, off int64) (uint32, syscall.Errno) {
	p := joinData(data)
	if len(p) == 0 {
		return 0, 0
	}
	end := off + int64(len(p))
	if off < 0 || end > n.size {
		n.m.logf("fusemem: node %s: write [%d,%d) beyond size %d refused", n.name, off, end, n.size)
		return 0, syscall.EFBIG
	}
	if off%PageSize != 0 || len(p)%PageSize != 0 {
		n.m.logf("fusemem: node %s: unaligned write [%d,%d) refused: write whole pages", n.name, off, end)
		return 0, syscall.EINVAL
	}
	n.sinkMu.RLock()
	var err error
	if n.sink != nil {
		err = n.sink(off, p)
	} else {
		err = n.be.WriteAt(ctx, p, off)
	}
	n.sinkMu.RUnlock()
	if err != nil {
		n.fail(off, fmt.Errorf("write %d bytes: %w", len(p), err))
		return 0, syscall.EIO
	}
	n.writes.Add(1)
	n.writeBytes.Add(uint64(len(p)))
	return uint32(len(p)), 0
}

// Fsync has nothing left to do: the kernel sends FSYNC only after every
// dirty page of the range has been written back (and answered) above.
func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	return 0
}

// Flush (close(2)) likewise: writeback on close happens before it.
func (n *node) Flush(ctx context.Context, f fs.FileHandle) syscall.Errno {
	return 0
}

func (n *node) fail(off int64, err error) {
	n.errs.Add(1)
	n.m.logf("fusemem: node %s at offset %d: %v", n.name, off, err)
	if n.m.opt.OnError != nil {
		n.m.opt.OnError(n.name, off, err)
	}
}

func (n *node) stats() Stats {
	return Stats{
		Reads:      n.reads.Load(),
		ReadBytes:  n.readBytes.Load(),
		Writes:     n.writes.Load(),
		WriteBytes: n.writeBytes.Load(),
		Errors:     n.errs.Load(),
	}
}

func pageDown(x int64) int64 { return x &^ (PageSize - 1) }
func pageUp(x int64) int64   { return (x + PageSize - 1) &^ (PageSize - 1) }

// joinData returns the WRITE payload as one slice, copying only when the
// kernel split it.
func joinData(data [][]byte) []byte {
	switch len(data) {
	case 0:
		return nil
	case 1:
		return data[0]
	}
	total := 0
	for _, d := range data {
		total += len(d)
	}
	p := make([]byte, 0, total)
	for _, d := range data {
		p = append(p, d...)
	}
	return p
}
