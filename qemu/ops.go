package qemu

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Status returns QEMU's run state ("running", "paused", "postmigrate",
// "inmigrate", ...).
func (v *VM) Status(ctx context.Context) (string, error) { return v.qmp.status(ctx) }

// Stop pauses the vCPUs.
func (v *VM) Stop(ctx context.Context) error { return v.qmp.simple(ctx, "stop") }

// Cont resumes the vCPUs (also from postmigrate, after a save).
func (v *VM) Cont(ctx context.Context) error { return v.qmp.simple(ctx, "cont") }

// CalcDirtyRate measures the guest's dirty rate over seconds (page-sampling
// mode) in bytes per second.
func (v *VM) CalcDirtyRate(ctx context.Context, seconds int) (float64, error) {
	return v.qmp.calcDirtyRate(ctx, seconds)
}

// migFD is the name the migration file descriptor is passed under.
const migFD = "dcres-migration"

// SaveDeviceState writes only device state (RAM is in share=on files and
// is skipped by x-ignore-shared) to path and fsyncs it. Stop the VM first
// and copy its RAM files while it stays stopped: a RAM copy from another
// instant than the device state restores "successfully" and then hangs.
// The VM is left in postmigrate; Cont resumes it.
func (v *VM) SaveDeviceState(ctx context.Context, path string) error {
	return v.save(ctx, path, true)
}

// SaveStream writes QEMU's own full migration stream (RAM included) to
// path: the "qemu-stream" baseline. The VM is left in postmigrate.
func (v *VM) SaveStream(ctx context.Context, path string) error {
	return v.save(ctx, path, false)
}

// LoadDeviceState loads device state saved by SaveDeviceState into a VM
// started with Incoming whose RAM files already hold the saved memory, and
// whose Config matches the saved VM's (node sizes, CPUs, kernel, initrd;
// the paths may differ). It does not resume a guest that was saved
// stopped; call Cont.
func (v *VM) LoadDeviceState(ctx context.Context, path string) error {
	return v.load(ctx, path, true)
}

// LoadStream loads a stream written by SaveStream into a VM started with
// Incoming (its RAM files may be empty).
func (v *VM) LoadStream(ctx context.Context, path string) error {
	return v.load(ctx, path, false)
}

func (v *VM) save(ctx context.Context, path string, ignoreShared bool) error {
	c := v.qmp
	if err := c.setCapabilities(ctx, capability{"x-ignore-shared", ignoreShared}, capability{"events", true}); err != nil {
		return err
	}
	if err := c.setMaxBandwidth(ctx, maxBandwidth); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("qemu: device state file: %v", err)
	}
	err = c.getfd(ctx, migFD, f)
	f.Close() // QEMU holds its own copy now
	if err != nil {
		return err
	}
	start := time.Now()
	if err := c.migrate(ctx, "fd:"+migFD); err != nil {
		return err
	}
	if err := c.waitMigration(ctx); err != nil {
		return err
	}
	if err := syncFile(path); err != nil {
		return err
	}
	v.cfg.logf("qemu: saved %s (ignore-shared=%v) in %v", path, ignoreShared, time.Since(start))
	return nil
}

func (v *VM) load(ctx context.Context, path string, ignoreShared bool) error {
	c := v.qmp
	st, err := c.status(ctx)
	if err != nil {
		return err
	}
	if st != "inmigrate" {
		return fmt.Errorf("qemu: cannot load %s into a VM in state %q; start it with Config.Incoming", path, st)
	}
	if err := c.setCapabilities(ctx, capability{"x-ignore-shared", ignoreShared}, capability{"events", true}); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("qemu: device state file: %v", err)
	}
	err = c.getfd(ctx, migFD, f)
	f.Close()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := c.migrateIncoming(ctx, "fd:"+migFD); err != nil {
		return err
	}
	if err := c.waitMigration(ctx); err != nil {
		return err
	}
	v.cfg.logf("qemu: loaded %s (ignore-shared=%v) in %v", path, ignoreShared, time.Since(start))
	return nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("qemu: sync %s: %v", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("qemu: sync %s: %v", path, err)
	}
	return nil
}

// Serial returns the parsed console lines. The channel is buffered; lines
// are dropped for a reader that falls far behind (SerialTail and the log
// file serial0.log in Dir keep them). It is closed when the console ends.
func (v *VM) Serial() <-chan Line { return v.con.out }

// SerialTail returns up to the last n console lines (all kept, up to 500,
// when n <= 0).
func (v *VM) SerialTail(n int) []string { return v.con.lastLines(n) }

// Expect returns a channel that receives the next console line for which
// match is true, and a function to stop waiting. Unlike Serial it never
// misses a line, whoever else reads the console.
func (v *VM) Expect(match func(Line) bool) (<-chan Line, func()) { return v.con.expect(match) }

// verifyTimeout bounds VerifyGuest when ctx has no deadline: checking all
// of memory under TCG takes seconds.
const verifyTimeout = 2 * time.Minute

// VerifyGuest asks the guest to check every page now and returns how many
// pages it checked and how many were wrong. A paused guest does not answer
// until it is resumed.
func (v *VM) VerifyGuest(ctx context.Context) (pages, errors int64, err error) {
	id := v.verifyID.Add(1)
	ch, cancel := v.con.expect(func(l Line) bool { return l.Kind == "verify" && l.Fields["id"] == id })
	defer cancel()
	if _, ok := ctx.Deadline(); !ok {
		var c context.CancelFunc
		ctx, c = context.WithTimeout(ctx, verifyTimeout)
		defer c()
	}
	// The guest's UART can drop the first bytes of a command (seen after
	// a restore), so the command is padded with blank lines, which the
	// guest skips, and sent again until the guest answers. The guest
	// answers every copy it reads; the first answer is taken.
	resend := time.NewTicker(verifyResend)
	defer resend.Stop()
	for {
		if _, err := fmt.Fprintf(v.cmdConn, "\n\n\nverify %d\n", id); err != nil {
			return 0, 0, fmt.Errorf("qemu: send verify to the guest: %v", err)
		}
		select {
		case l := <-ch:
			return l.Fields["pages"], l.Fields["errors"], nil
		case <-v.exited:
			return 0, 0, fmt.Errorf("qemu exited before the guest answered verify: %v", v.waitErr)
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("qemu: guest did not answer verify %d (is it running the dcres init?): %w", id, ctx.Err())
		case <-resend.C:
		}
	}
}

// verifyResend is how long VerifyGuest waits for an answer before it
// sends the command again: longer than a verify of a few GiB takes.
const verifyResend = 15 * time.Second
