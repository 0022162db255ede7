package fusemem

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// FilesDir is the directory, existing only inside the mount, that holds the
// node files. A QEMU given DIR/files/NAME before the mount is up fails with
// "No such file or directory" instead of creating a file of zeros.
const FilesDir = "files"

// fsType is the mount's type in /proc/self/mountinfo ("fuse." + Name);
// CleanStale recognises dcres mounts by it.
const (
	fsSubtype = "dcres"
	fsType    = "fuse." + fsSubtype
	fsSource  = "dcres-fusemem"
)

// How long Close waits for a busy mount before detaching it, and then for
// the serve loop before aborting the connection.
var (
	unmountWait = 2 * time.Second
	serveWait   = 2 * time.Second
)

// Mount is a live FUSE mount serving RAM nodes.
type Mount struct {
	dir    string
	opt    Options
	srv    *fuse.Server
	connID uint32 // minor device number = /sys/fs/fuse/connections/<id>
	nodes  map[string]*node
	served chan struct{} // closed when the serve loop has returned

	wg        sync.WaitGroup // background fsyncs started by Flush
	closeOnce sync.Once
	closeErr  error
}

type rootNode struct {
	fs.Inode
	nodes []*node
}

// OnAdd builds the fixed tree: DIR/files/NAME for every node.
func (r *rootNode) OnAdd(ctx context.Context) {
	files := r.NewPersistentInode(ctx, &fs.Inode{}, fs.StableAttr{Mode: syscall.S_IFDIR})
	r.AddChild(FilesDir, files, false)
	for _, n := range r.nodes {
		files.AddChild(n.name, r.NewPersistentInode(ctx, n, fs.StableAttr{Mode: syscall.S_IFREG}), false)
	}
}

// New creates dir if needed, mounts a FUSE file system on it and serves
// nodes as dir/files/NAME. (It is not called Mount because the type is.) ctx bounds only the setup: the mount lives until
// Close, because unmounting guest RAM under a running QEMU kills it.
func New(ctx context.Context, dir string, nodes []NodeSpec, opt Options) (*Mount, error) {
	if err := validateSpecs(nodes); err != nil {
		return nil, err
	}
	if opt.MaxWrite <= 0 {
		opt.MaxWrite = defaultMaxWrite
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("fusemem: mount point %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("fusemem: create mount point: %w", err)
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return nil, fmt.Errorf("fusemem: /dev/fuse is not available (%v): load the fuse module or give the container the device", err)
	}
	m := &Mount{dir: abs, opt: opt, nodes: map[string]*node{}, served: make(chan struct{})}
	root := &rootNode{}
	for _, s := range nodes {
		n := &node{name: s.Name, size: s.Size, be: s.Backend, m: m}
		root.nodes = append(root.nodes, n)
		m.nodes[s.Name] = n
	}
	timeout := 10 * time.Second
	fopt := &fs.Options{
		MountOptions: fuse.MountOptions{
			MaxWrite:          opt.MaxWrite,
			Name:              fsSubtype,
			FsName:            fsSource,
			DirectMountStrict: true, // root mounts with mount(2); there is no fusermount
			DisableXAttrs:     true,
			Logger:            log.New(logWriter{m}, "", 0),
		},
		EntryTimeout: &timeout,
		AttrTimeout:  &timeout,
		Logger:       log.New(logWriter{m}, "", 0),
	}
	var srv *fuse.Server
	err = newServer(func() (err error) {
		srv, err = fuse.NewServer(fs.NewNodeFS(root, fopt), abs, &fopt.MountOptions)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("fusemem: mount on %s: %w (are you root?)", abs, err)
	}
	m.srv = srv
	go func() {
		srv.Serve()
		close(m.served)
	}()
	if err := srv.WaitMount(); err != nil {
		m.abandon()
		return nil, fmt.Errorf("fusemem: mount on %s did not come up: %w", abs, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(abs, &st); err != nil {
		m.abandon()
		return nil, fmt.Errorf("fusemem: stat new mount %s: %w", abs, err)
	}
	m.connID = unix.Minor(st.Dev)
	live.Store(abs, struct{}{})
	for _, n := range root.nodes {
		if err := ctx.Err(); err != nil {
			m.abandon()
			return nil, fmt.Errorf("fusemem: mount setup cancelled: %w", err)
		}
		f, err := os.OpenFile(m.Path(n.name), os.O_RDWR, 0)
		if err != nil {
			m.abandon()
			return nil, fmt.Errorf("fusemem: open own node %s: %w", n.name, err)
		}
		n.pin = f
	}
	return m, nil
}

// abandon tears down a half-built mount; its error is secondary to the one
// being returned.
func (m *Mount) abandon() {
	if err := m.Close(); err != nil {
		m.logf("fusemem: cleanup after failed mount: %v", err)
	}
}

// Dir is the mount point.
func (m *Mount) Dir() string { return m.dir }

// Path is the file QEMU should map for node name (mem-path=...).
func (m *Mount) Path(name string) string { return filepath.Join(m.dir, FilesDir, name) }

// Stats returns node name's counters (zero for an unknown name).
func (m *Mount) Stats(name string) Stats {
	if n := m.nodes[name]; n != nil {
		return n.stats()
	}
	return Stats{}
}

func (m *Mount) node(name string) (*node, error) {
	n := m.nodes[name]
	if n == nil {
		return nil, fmt.Errorf("fusemem: no node %q on mount %s", name, m.dir)
	}
	return n, nil
}

// Close writes back what is dirty (closing the server's own descriptors does
// that), unmounts, and waits for the serve loop. A mount still in use (QEMU
// still maps a file) is detached lazily after a short wait, and if the serve
// loop still does not end, the FUSE connection is aborted: any process still
// touching the files then gets SIGBUS, as it would if the agent had died.
func (m *Mount) Close() error {
	m.closeOnce.Do(func() { m.closeErr = m.close() })
	return m.closeErr
}

func (m *Mount) close() error {
	var errs []error
	for _, n := range m.nodes {
		if n.pin != nil {
			if err := n.pin.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close node %s: %w", n.name, err))
			}
		}
	}
	m.wg.Wait()
	if m.srv == nil {
		return errors.Join(errs...)
	}
	deadline := time.Now().Add(unmountWait)
	for {
		err := unix.Unmount(m.dir, 0)
		if err == nil || err == unix.EINVAL || err == unix.ENOENT {
			break // EINVAL: not mounted (any more)
		}
		if err != unix.EBUSY || time.Now().After(deadline) {
			m.logf("fusemem: unmount %s: %v; detaching lazily", m.dir, err)
			if err := unix.Unmount(m.dir, unix.MNT_DETACH); err != nil && err != unix.EINVAL {
				errs = append(errs, fmt.Errorf("lazy unmount %s: %w", m.dir, err))
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	live.Delete(m.dir)
	select {
	case <-m.served:
	case <-time.After(serveWait):
		m.logf("fusemem: serve loop of %s still busy after unmount (files still mapped?); aborting connection %d", m.dir, m.connID)
		if err := abortConn(m.connID); err != nil {
			errs = append(errs, fmt.Errorf("serve loop still running and abort failed: %w", err))
			return fmt.Errorf("fusemem: close %s: %w", m.dir, errors.Join(errs...))
		}
		<-m.served
	}
	if len(errs) > 0 {
		return fmt.Errorf("fusemem: close %s: %w", m.dir, errors.Join(errs...))
	}
	return nil
}

func (m *Mount) logf(format string, args ...any) {
	if m.opt.Logf != nil {
		m.opt.Logf(format, args...)
	}
}

// logWriter routes go-fuse's log.Logger output to Options.Logf.
type logWriter struct{ m *Mount }

func (w logWriter) Write(p []byte) (int, error) {
	w.m.logf("go-fuse: %s", string(p))
	return len(p), nil
}
