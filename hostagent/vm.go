package hostagent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"dcres/agentrpc"
	"dcres/api"
	"dcres/ckpt"
	"dcres/pager"
)

// vm is this host's part of one VM: its page store and, on the main host,
// the guest and its pager.
type vm struct {
	a      *Agent
	name   string
	inc    uint64
	self   int // index of this host in hosts
	setup  agentrpc.SetupParams
	npages uint64
	loc    *pager.Locations
	store  *pager.Store

	// guest is the VM's guest on the main host, nil elsewhere.
	guest guest

	// op serializes protocol steps on this VM.
	op      sync.Mutex
	mu      sync.Mutex // guards the fields below
	running bool
	paused  bool
	lease   *time.Timer
	started time.Time
	// On the main host: the checkpoint whose save this pause serves, whether
	// the lease resumed the guest since the pause, and the checkpoints whose
	// cut that broke (never to be committed).
	cutID      string
	leaseFired bool
	brokenCuts map[string]bool
	pauses     uint64 // pauses so far: a lease belongs to one of them
	// epochs: pages each open checkpoint took as written since the last cut
	epochs map[string][]pager.Run
	// base is the checkpoint of the last cut: committed, or restored.
	base string
	// lazy is the background load of a lazy restore, nil otherwise.
	lazy *lazyLoad
	// last sample, for rates
	lastAt      time.Time
	lastStats   pagingStats
	lastWritten uint64
}

func (v *vm) isMain() bool { return v.setup.Main == v.a.cfg.Name }

// newVM builds a VM's state from its setup; the guest is not started.
func (a *Agent) newVM(p agentrpc.SetupParams) (*vm, error) {
	if err := ckpt.ValidName("vm", p.VM); err != nil {
		return nil, err
	}
	if p.MemoryBytes <= 0 || p.MemoryBytes%api.PageSize != 0 {
		return nil, fmt.Errorf("memory %d is not a positive multiple of %d", p.MemoryBytes, api.PageSize)
	}
	if p.Driver != "synthetic" && p.Driver != "qemu" {
		return nil, fmt.Errorf("driver %q is not known (synthetic, qemu)", p.Driver)
	}
	self := -1
	for i, h := range p.Hosts {
		if h == a.cfg.Name {
			self = i
		}
	}
	if self < 0 {
		return nil, fmt.Errorf("host %s is not among the VM's hosts %v", a.cfg.Name, p.Hosts)
	}
	npages := uint64(p.MemoryBytes / api.PageSize)
	loc, err := pager.FromRanges(p.Hosts, npages, p.Locations)
	if err != nil {
		return nil, err
	}
	store, err := pager.NewStore(npages)
	if err != nil {
		return nil, err
	}
	v := &vm{a: a, name: p.VM, inc: p.Incarnation, self: self, setup: p, npages: npages, loc: loc, store: store}
	if v.isMain() {
		var g guest
		switch p.Driver {
		case "synthetic":
			g, err = newSyntheticGuest(v)
		case "qemu":
			g, err = newQEMUGuest(v)
		}
		if err != nil {
			store.Close()
			return nil, err
		}
		v.guest = g
	}
	return v, nil
}

// run starts the guest (main host only): a fresh boot, or, with a device
// state file, the guest of a restored checkpoint.
func (v *vm) run(ctx context.Context, deviceState string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.guest == nil {
		return fmt.Errorf("host %s does not run VM %s's guest", v.a.cfg.Name, v.name)
	}
	if v.running {
		return nil
	}
	if err := v.guest.start(ctx, deviceState); err != nil {
		return err
	}
	v.running = true
	v.started = time.Now()
	return nil
}

// pause stops the guest and quiesces paging, and arms the lease that resumes
// the guest should the coordinator never come back.
func (v *vm) pause(ctx context.Context) error {
	if v.guest == nil {
		return fmt.Errorf("host %s does not run VM %s's guest", v.a.cfg.Name, v.name)
	}
	if err := v.guest.pause(ctx); err != nil {
		return err
	}
	v.mu.Lock()
	v.paused = true
	v.cutID, v.leaseFired = "", false
	v.pauses++
	n := v.pauses
	v.lease = time.AfterFunc(v.a.cfg.Lease, func() { v.expire(n) })
	v.mu.Unlock()
	return nil
}

// expire is the lease's end: no renewal came from the coordinator in time,
// so the guest resumes, and the checkpoint being saved can no longer be
// committed. One critical section, so that a save noted meanwhile sees
// either the pause or the lease fired. n is the pause the lease was armed
// for: a late one of an earlier pause does nothing.
func (v *vm) expire(n uint64) {
	v.mu.Lock()
	if !v.paused || n != v.pauses {
		v.mu.Unlock()
		return
	}
	v.leaseFired = true
	if v.cutID != "" {
		v.breakCut(v.cutID)
	}
	err := v.resumeLocked()
	v.mu.Unlock()
	if err != nil {
		v.a.logf(api.Error, "VM %s: no word from the coordinator for %s: resuming the guest (lease expired) failed: %v", v.name, v.a.cfg.Lease, err)
		return
	}
	v.a.logf(api.Warn, "VM %s: no word from the coordinator for %s: resumed the guest (lease expired)", v.name, v.a.cfg.Lease)
}

// renew starts the lease of a paused guest again: the coordinator is alive
// and its checkpoint is under way (it renews well within the lease).
func (v *vm) renew() error {
	if v.guest == nil {
		return fmt.Errorf("host %s does not run VM %s's guest", v.a.cfg.Name, v.name)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.leaseFired {
		return fmt.Errorf("VM %s: the lease (%s) already resumed the guest", v.name, v.a.cfg.Lease)
	}
	if !v.paused {
		return errNotPaused
	}
	// Stop fails when expire has started: it resumes the guest as soon as
	// it gets the lock.
	if !v.lease.Stop() {
		return fmt.Errorf("VM %s: the lease (%s) is resuming the guest", v.name, v.a.cfg.Lease)
	}
	v.lease.Reset(v.a.cfg.Lease)
	return nil
}

// noteSave records that checkpoint id saves now: on the main host, with the
// guest paused for it, unless the lease already resumed the guest.
func (v *vm) noteSave(id string) {
	if v.guest == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case v.leaseFired:
		v.breakCut(id)
	case v.paused:
		v.cutID = id
	}
}

// breakCut marks checkpoint id as not committable; v.mu held.
func (v *vm) breakCut(id string) {
	if v.brokenCuts == nil {
		v.brokenCuts = map[string]bool{}
	}
	v.brokenCuts[id] = true
}

// cutBroken reports whether the lease resumed the guest while checkpoint id
// was being saved: its hosts' pieces are no longer of one instant.
func (v *vm) cutBroken(id string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.brokenCuts[id]
}

// forgetCut drops what noteSave recorded of checkpoint id once it ended.
func (v *vm) forgetCut(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.brokenCuts, id)
}

// errNotPaused is resume's answer when there was nothing to resume.
var errNotPaused = fmt.Errorf("the guest is not paused")

// resume undoes pause.
func (v *vm) resume() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.resumeLocked()
}

// resumeLocked is resume with v.mu held.
func (v *vm) resumeLocked() error {
	if !v.paused {
		return errNotPaused
	}
	v.paused = false
	if v.lease != nil {
		v.lease.Stop()
	}
	return v.guest.resume(context.Background())
}

// close stops the guest and frees the pages.
func (v *vm) close() {
	if l := v.lazy; l != nil {
		l.cancel()
		<-l.finished
	}
	v.mu.Lock()
	if v.lease != nil {
		v.lease.Stop()
	}
	v.paused, v.running = false, false
	g := v.guest
	v.mu.Unlock()
	if g != nil {
		g.close()
	}
	v.store.Close()
}
