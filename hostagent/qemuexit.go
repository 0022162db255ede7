package hostagent

import (
	"fmt"
	"time"

	"dcres/api"
)

// A QEMU that died (killed, crashed, SIGBUS on a FUSE node whose home is
// gone) leaves the VM's guest stopped: the agent reports it so, and explains
// the failures of every later step by QEMU's end, not by the broken QMP
// socket they meet.

// A remote node's page that cannot be fetched from its home, or written
// back to it, means the guest's memory is no longer whole: a page the
// kernel could not write back is clean in its cache and, once dropped,
// would be read again from a home that lacks it (stale, or gone with its
// agent). So the first such failure stops the guest for good: QEMU is
// killed (a FUSE wait is killable; the mount is aborted when the VM is torn
// down), with the reason logged and kept for every later step. Restore a
// checkpoint to run the guest again.

// homeFailed stops the guest after a page of node n could not reach or
// come from its home.
func (g *qemuGuest) homeFailed(n *qemuNode, home int, what string, err error) {
	reason := fmt.Errorf("the agent stopped QEMU: %s of node %d failed (%w): the guest's memory on %s is out of reach, so it cannot run on; restore a checkpoint",
		what, n.index, err, g.v.setup.Hosts[home])
	g.mu.Lock()
	qm, first := g.qm, g.stopReason == nil
	if qm != nil && first {
		g.stopReason = reason
	}
	g.mu.Unlock()
	if qm == nil || !first {
		return // torn down (nothing runs any more), or stopped already
	}
	g.v.a.logf(api.Error, "VM %s: %v", g.v.name, reason)
	if kerr := qm.Kill(); kerr != nil {
		g.v.a.logf(api.Error, "VM %s: killing QEMU: %v", g.v.name, kerr)
	}
	// A vCPU waiting in the kernel on a FUSE request of this mount may not
	// die of the signal until the request ends: if QEMU is still there
	// after a moment, end the mount (Close aborts the connection when it
	// must). Not on this goroutine: it serves a FUSE request, and Close
	// waits for them.
	g.mu.Lock()
	mount := g.mount
	g.mu.Unlock()
	go func() {
		select {
		case <-qm.Exited():
			return
		case <-time.After(killWait):
		}
		if mount == nil {
			return
		}
		g.v.a.logf(api.Warn, "VM %s: QEMU did not die within %s of SIGKILL (a vCPU waits on remote memory): closing the FUSE mount", g.v.name, killWait)
		if err := mount.Close(); err != nil {
			g.v.a.logf(api.Error, "VM %s: closing the FUSE mount: %v", g.v.name, err)
		}
	}()
}

// killWait is how long a killed QEMU may take to die before its FUSE mount
// is closed under it.
const killWait = 2 * time.Second

// exitError says why QEMU exited: the agent's reason, when it stopped it.
func (g *qemuGuest) exitError(qm interface{ Wait() error }) error {
	g.mu.Lock()
	r := g.stopReason
	g.mu.Unlock()
	if r != nil {
		return fmt.Errorf("QEMU exited (%v): the guest is stopped: %w", qm.Wait(), r)
	}
	return fmt.Errorf("QEMU exited (%v): the guest is stopped", qm.Wait())
}

// exitWait is how long a failed step waits for QEMU's exit to be seen (the
// QMP socket breaks a moment before the process is reaped).
const exitWait = time.Second

// exited says why QEMU ended, or nil while it runs (or was closed on
// purpose). With wait, it gives a dying QEMU exitWait to be reaped.
func (g *qemuGuest) exited(wait bool) error {
	g.mu.Lock()
	qm := g.qm
	g.mu.Unlock()
	if qm == nil {
		return nil
	}
	var timeout <-chan time.Time // nil: do not wait
	if wait {
		timeout = time.After(exitWait)
	}
	select {
	case <-qm.Exited():
		return g.exitError(qm)
	case <-timeout:
		return nil
	default:
	}
	if !wait {
		return nil
	}
	select {
	case <-qm.Exited():
		return g.exitError(qm)
	case <-timeout:
		return nil
	}
}

// guestExited is why the VM's guest ended by itself, or nil.
func (v *vm) guestExited(wait bool) error {
	if g, ok := v.guest.(interface{ exited(bool) error }); ok {
		return g.exited(wait)
	}
	return nil
}

// explain puts a step's failure in terms of the guest's end, if it ended.
func (v *vm) explain(err error) error {
	if err == nil {
		return nil
	}
	if why := v.guestExited(true); why != nil {
		return fmt.Errorf("VM %s: %w (%v)", v.name, why, err)
	}
	return err
}
