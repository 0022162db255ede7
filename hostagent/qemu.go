package hostagent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"dcres/api"
	"dcres/fusemem"
	"dcres/guest/image"
	"dcres/pager"
	"dcres/qemu"
)

// qemuGuest runs an unmodified QEMU whose RAM is one NUMA node per part:
// a node all of whose pages are homed here is a share=on file in /dev/shm;
// any other node is a file on a FUSE mount this agent serves, faulting pages
// in from their homes and writing dirty ones back (see qemuBackend).
type qemuGuest struct {
	v     *vm
	dir   string // runtime directory: sockets, logs, the FUSE mount
	nodes []*qemuNode
	ov    *overlay

	fetched atomic.Int64 // bytes fetched from other hosts, for qemu-stream's report
	written []atomic.Uint64

	mu    sync.Mutex
	mount *fusemem.Mount
	qm    *qemu.VM
	gate  sync.RWMutex // write-locked while paused: no page moves between hosts
	gated bool
	hb    qemu.Line // last heartbeat
	// trackErr is why QEMU's writes to its local nodes cannot be seen
	// (then live and incremental checkpoints are refused).
	trackErr error
	tracks   []nodeTrack
	// stopReason is why the agent stopped QEMU (qemuexit.go), nil if it
	// did not.
	stopReason error
	dirty      float64 // last measured dirty rate (bytes/s)
	stop       context.CancelFunc
	wg         sync.WaitGroup
}

type qemuNode struct {
	index int
	base  uint64 // first gfn
	pages uint64
	local bool
	shm   string // local: the /dev/shm file
	mem   []byte // local: the file, mapped shared
	name  string // remote: the file name on the FUSE mount
}

// shmPrefix names this agent's /dev/shm files: a hash of its data directory,
// so two agents (two labs) on one machine never touch each other's files.
func (a *Agent) shmPrefix() string {
	h := sha256.Sum256([]byte(a.cfg.DataDir))
	return "dcres-" + hex.EncodeToString(h[:4]) + "-"
}

func newQEMUGuest(v *vm) (*qemuGuest, error) {
	p := v.setup
	if len(p.Nodes) == 0 {
		return nil, fmt.Errorf("VM %s: the qemu driver needs the NUMA node sizes", p.VM)
	}
	var sum uint64
	for _, n := range p.Nodes {
		sum += n
	}
	if sum != v.npages {
		return nil, fmt.Errorf("VM %s: NUMA nodes hold %d pages, memory is %d", p.VM, sum, v.npages)
	}
	dir := filepath.Join(v.a.cfg.DataDir, "run", fmt.Sprintf("%s-%x", p.VM, p.Incarnation&0xffffff))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	g := &qemuGuest{v: v, dir: dir, ov: newOverlay(), written: make([]atomic.Uint64, len(p.Hosts))}
	base := uint64(0)
	for i, n := range p.Nodes {
		node := &qemuNode{index: i, base: base, pages: n, local: true}
		for gg := base; gg < base+n; gg++ {
			if v.loc.Home(gg) != v.self {
				node.local = false
				break
			}
		}
		if i == 0 && !node.local {
			g.close()
			return nil, fmt.Errorf("VM %s: NUMA node 0 must be homed on the main host %s (it is the guest's boot memory)", p.VM, v.a.cfg.Name)
		}
		if node.local {
			node.shm = filepath.Join("/dev/shm", fmt.Sprintf("%s%s-%x-node%d", v.a.shmPrefix(), p.VM, p.Incarnation&0xffffff, i))
			if err := node.mapShm(); err != nil {
				g.close()
				return nil, err
			}
		} else {
			node.name = fmt.Sprintf("node%d", i)
		}
		g.nodes = append(g.nodes, node)
		base += n
	}
	return g, nil
}

func (n *qemuNode) mapShm() error {
	f, err := os.OpenFile(n.shm, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("guest RAM file: %w", err)
	}
	defer f.Close()
	size := int64(n.pages) * api.PageSize
	if err := f.Truncate(size); err != nil {
		os.Remove(n.shm)
		return fmt.Errorf("guest RAM file %s: %w", n.shm, err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		os.Remove(n.shm)
		return fmt.Errorf("mapping %s: %w", n.shm, err)
	}
	n.mem = mem
	return nil
}

// nodeOf finds the node holding gfn g.
func (g *qemuGuest) nodeOf(gfn uint64) *qemuNode {
	i := sort.Search(len(g.nodes), func(i int) bool { return g.nodes[i].base+g.nodes[i].pages > gfn })
	if i == len(g.nodes) {
		return nil
	}
	return g.nodes[i]
}

func (g *qemuGuest) start(ctx context.Context, deviceState string) error {
	kernel, initrd, err := image.Find()
	if err != nil {
		return err
	}
	var specs []fusemem.NodeSpec
	for _, n := range g.nodes {
		if !n.local {
			specs = append(specs, fusemem.NodeSpec{Name: n.name, Size: int64(n.pages) * api.PageSize, Backend: &qemuBackend{g: g, n: n}})
		}
	}
	var mount *fusemem.Mount
	if len(specs) > 0 {
		mount, err = fusemem.New(ctx, filepath.Join(g.dir, "mem"), specs, fusemem.Options{
			Logf: g.v.a.cfg.Logf,
			OnError: func(node string, off int64, err error) {
				g.v.a.logf(api.Error, "VM %s: remote memory %s at offset %d failed: %v", g.v.name, node, off, err)
			},
		})
		if err != nil {
			return fmt.Errorf("remote memory: %w", err)
		}
	}
	var qn []qemu.Node
	for _, n := range g.nodes {
		path := n.shm
		if !n.local {
			path = mount.Path(n.name)
			// QEMU would silently create a zero file were the mount not there.
			if err := fusemem.CheckOnFUSE(path); err != nil {
				mount.Close()
				return err
			}
		}
		qn = append(qn, qemu.Node{SizeBytes: int64(n.pages) * api.PageSize, MemPath: path})
	}
	w := g.v.setup.Workload
	settings := image.Settings{MemPercent: 70, DirtyRate: w.DirtyRate, Pattern: guestPattern(w.Pattern), Seed: uint64(w.Seed)}
	cpus := g.v.setup.CPUs
	if cpus == 0 {
		cpus = 1
	}
	qm, err := qemu.Start(ctx, qemu.Config{Kernel: kernel, Initrd: initrd, Append: settings.KernelArgs(), CPUs: cpus,
		Nodes: qn, Dir: g.dir, Incoming: deviceState != "", Logf: g.v.a.cfg.Logf})
	if err != nil {
		if mount != nil {
			mount.Close()
		}
		return err
	}
	g.trackWrites(qm.Pid())
	if deviceState != "" {
		load := qm.LoadDeviceState
		if filepath.Base(deviceState) == streamFile {
			load = qm.LoadStream
		}
		if err := load(ctx, deviceState); err != nil {
			qm.Close()
			if mount != nil {
				mount.Close()
			}
			return fmt.Errorf("loading %s into QEMU: %w", filepath.Base(deviceState), err)
		}
		if err := qm.Cont(ctx); err != nil {
			qm.Close()
			if mount != nil {
				mount.Close()
			}
			return err
		}
	}
	wctx, cancel := context.WithCancel(context.Background())
	g.mu.Lock()
	g.mount, g.qm, g.stop = mount, qm, cancel
	g.mu.Unlock()
	g.wg.Add(2)
	go func() { defer g.wg.Done(); g.watch(wctx, qm) }()
	go func() { defer g.wg.Done(); g.sampleDirtyRate(wctx, qm) }()
	return nil
}

func guestPattern(p string) string {
	switch p {
	case "sequential":
		return "seq"
	case "hotcold":
		return "hot"
	}
	return "random"
}

// watch reads the guest's console: heartbeats for the status, check errors
// and QEMU's exit for the operators.
func (g *qemuGuest) watch(ctx context.Context, qm *qemu.VM) {
	lines := qm.Serial()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := time.Now() // the last heartbeat, or the last time the guest was paused
	hung := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			g.mu.Lock()
			paused := g.gated
			g.mu.Unlock()
			switch {
			case paused:
				last = time.Now()
			case !hung && time.Since(last) > hangAfter:
				hung = true
				g.v.a.logf(api.Error, "VM %s: the guest has sent no heartbeat for %s (hung, or starved of CPU); last console lines: %s",
					g.v.name, hangAfter, strings.Join(qm.SerialTail(5), " | "))
			}
		case <-qm.Exited():
			g.v.a.logf(api.Error, "VM %s: QEMU exited (%v); last console lines: %s", g.v.name, qm.Wait(), strings.Join(qm.SerialTail(5), " | "))
			return
		case l, ok := <-lines:
			if !ok {
				// The console closes as QEMU exits: report the exit, not
				// the end of its console, unless the VM is being closed.
				select {
				case <-qm.Exited():
					if ctx.Err() == nil {
						g.v.a.logf(api.Error, "VM %s: QEMU exited (%v); last console lines: %s", g.v.name, qm.Wait(), strings.Join(qm.SerialTail(5), " | "))
					}
				case <-ctx.Done():
				}
				return
			}
			switch l.Kind {
			case "hb":
				g.mu.Lock()
				g.hb = l
				g.mu.Unlock()
				if hung {
					g.v.a.logf(api.Warn, "VM %s: the guest's heartbeats are back", g.v.name)
				}
				last, hung = time.Now(), false
			case "error", "fatal":
				g.v.a.logf(api.Error, "VM %s guest: %s", g.v.name, l.Raw)
			}
		}
	}
}

// hangAfter is how long a running guest may stay silent on its console
// (it beats once a second) before the agent reports it as hung (a variable
// for tests only).
var hangAfter = 20 * time.Second

// sampleDirtyRate measures the guest's dirty rate with QEMU's page sampling
// (the only mode safe under TCG) every few seconds.
func (g *qemuGuest) sampleDirtyRate(ctx context.Context, qm *qemu.VM) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(3 * time.Second):
		}
		g.mu.Lock()
		paused := g.gated
		g.mu.Unlock()
		if paused {
			continue
		}
		rate, err := qm.CalcDirtyRate(ctx, 1)
		if err == nil {
			g.mu.Lock()
			g.dirty = rate
			g.mu.Unlock()
		}
	}
}

func (g *qemuGuest) vm() (*qemu.VM, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.qm == nil {
		return nil, fmt.Errorf("VM %s: QEMU is not running", g.v.name)
	}
	return g.qm, nil
}

// pause stops the vCPUs, has the kernel hand over every dirty page of the
// remote nodes (kept here: they are newer than their homes' copies and go
// into this host's piece), and closes the gate so no page moves until resume.
func (g *qemuGuest) pause(ctx context.Context) error {
	qm, err := g.vm()
	if err != nil {
		return err
	}
	if err := qm.Stop(ctx); err != nil {
		return err
	}
	g.mu.Lock()
	mount := g.mount
	g.mu.Unlock()
	for _, n := range g.nodes {
		if n.local || mount == nil {
			continue
		}
		err := mount.FlushTo(ctx, n.name, func(off int64, p []byte) error {
			for i := 0; i+api.PageSize <= len(p); i += api.PageSize {
				g.ov.put(n.base+uint64(off+int64(i))/api.PageSize, p[i:i+api.PageSize])
			}
			return nil
		})
		if err != nil {
			qm.Cont(context.WithoutCancel(ctx))
			return fmt.Errorf("flushing remote memory %s: %w", n.name, err)
		}
	}
	g.gate.Lock()
	g.mu.Lock()
	g.gated = true
	g.mu.Unlock()
	return nil
}

func (g *qemuGuest) resume(ctx context.Context) error {
	g.mu.Lock()
	gated := g.gated
	g.gated = false
	g.mu.Unlock()
	if gated {
		g.gate.Unlock()
	}
	qm, err := g.vm()
	if err != nil {
		return err
	}
	if err := qm.Cont(ctx); err != nil {
		return err
	}
	// Pages kept here at the cut go home now, behind the guest's back.
	g.wg.Add(1)
	go func() { defer g.wg.Done(); g.drain() }()
	return nil
}

// drain sends the overlay's pages home.
func (g *qemuGuest) drain() {
	for _, gfn := range g.ov.list() {
		home := g.v.loc.Home(gfn)
		if home == g.v.self {
			g.ov.settle(gfn, func(p []byte) error { g.v.store.Put(gfn, p); return nil })
			continue
		}
		// The gate before the overlay's lock, in the backend's order.
		g.gate.RLock()
		err := g.ov.settle(gfn, func(p []byte) error {
			return (&peerRemote{v: g.v}).WriteBack(context.Background(), home, []uint64{gfn}, p)
		})
		g.gate.RUnlock()
		if err != nil {
			g.v.a.logf(api.Warn, "VM %s: page %d stays on the main host for now: %v", g.v.name, gfn, err)
			return
		}
	}
}

func (g *qemuGuest) homeRuns() []pager.Run {
	var runs []pager.Run
	for _, n := range g.nodes {
		if n.local {
			runs = append(runs, pager.Run{Start: n.base, Count: n.pages})
		}
	}
	// Pages of remote nodes homed here live in the store.
	for _, r := range g.v.store.Runs() {
		if n := g.nodeOf(r.Start); n != nil && !n.local {
			runs = append(runs, r)
		}
	}
	return runs
}

func (g *qemuGuest) homePage(gfn uint64) []byte {
	n := g.nodeOf(gfn)
	if n != nil && n.local {
		off := (gfn - n.base) * api.PageSize
		return n.mem[off : off+api.PageSize]
	}
	if !g.v.store.Has(gfn) {
		return zeroPage[:]
	}
	return g.v.store.Page(gfn)
}

func (g *qemuGuest) putHome(gfn uint64, page []byte) {
	n := g.nodeOf(gfn)
	if n != nil && n.local {
		off := (gfn - n.base) * api.PageSize
		copy(n.mem[off:off+api.PageSize], page)
		return
	}
	g.v.store.Put(gfn, page)
}

func (g *qemuGuest) dirtyCached() []uint64        { return g.ov.list() }
func (g *qemuGuest) cachedPage(gfn uint64) []byte { return g.ov.get(gfn) }

func (g *qemuGuest) saveDeviceState(ctx context.Context, path string) error {
	qm, err := g.vm()
	if err != nil {
		return err
	}
	return qm.SaveDeviceState(ctx, path)
}

func (g *qemuGuest) saveStream(ctx context.Context, path string) (int64, error) {
	qm, err := g.vm()
	if err != nil {
		return 0, err
	}
	before := g.fetched.Load()
	// The stream reads every page of guest RAM through QEMU, so remote pages
	// come through the FUSE mount: open the gate for it.
	g.mu.Lock()
	gated := g.gated
	g.gated = false
	g.mu.Unlock()
	if gated {
		g.gate.Unlock()
		defer func() {
			g.gate.Lock()
			g.mu.Lock()
			g.gated = true
			g.mu.Unlock()
		}()
	}
	if err := qm.SaveStream(ctx, path); err != nil {
		return 0, err
	}
	return g.fetched.Load() - before, nil
}

func (g *qemuGuest) status() api.GuestStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.hb.Fields
	return api.GuestStatus{Driver: "qemu", PagesRead: f["read"], PagesWritten: f["written"], CheckErrors: f["errors"]}
}

func (g *qemuGuest) verify(ctx context.Context) (int64, int64, error) {
	qm, err := g.vm()
	if err != nil {
		return 0, 0, err
	}
	return qm.VerifyGuest(ctx)
}

func (g *qemuGuest) paging() pagingStats {
	st := pagingStats{DirtyPages: uint64(g.ov.len())}
	g.mu.Lock()
	mount := g.mount
	st.DirtyRate = g.dirty
	g.mu.Unlock()
	if mount != nil {
		for _, n := range g.nodes {
			if !n.local {
				s := mount.Stats(n.name)
				st.PagesIn += s.ReadBytes / api.PageSize
				st.PagesOut += s.WriteBytes / api.PageSize
			}
		}
	}
	for i := range g.written {
		st.WrittenByHost = append(st.WrittenByHost, g.written[i].Load())
	}
	return st
}

func (g *qemuGuest) close() {
	g.mu.Lock()
	qm, mount, stop := g.qm, g.mount, g.stop
	gated := g.gated
	g.gated = false
	g.qm, g.mount = nil, nil
	g.mu.Unlock()
	if gated {
		g.gate.Unlock()
	}
	if stop != nil {
		stop()
	}
	if qm != nil {
		qm.Close()
	}
	g.wg.Wait()
	g.untrack(nil)
	if mount != nil {
		mount.Close()
	}
	for _, n := range g.nodes {
		if n.mem != nil {
			unix.Munmap(n.mem)
			n.mem = nil
		}
		if n.shm != "" {
			os.Remove(n.shm)
		}
	}
	os.RemoveAll(g.dir)
}
