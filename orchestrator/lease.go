package orchestrator

import (
	"context"
	"fmt"
	"time"

	"dcres/agentrpc"
	"dcres/api"
)

// The main host's agent resumes a paused guest when its lease (PauseResult.
// LeaseSeconds, 30 s by default) ends without word from the coordinator, and
// then refuses to commit the checkpoint. While a checkpoint's guest is paused
// the coordinator renews the lease (ckpt.renew) three times a lease, so a
// save slower than the lease still commits, and the lease fires only when
// the coordinator is gone or cannot reach the main host. Renewals stop at the
// resume, and at the latest when the saves' call deadline has passed (plus
// one lease): a pause never outlasts what the coordinator's deadlines allow.

// defaultLease is the agents' default, for an agent that does not report it.
const defaultLease = 30 * time.Second

// leaseRenewal renews one pause's lease until stopped.
type leaseRenewal struct {
	stop func() // cancels the renewal in flight, ends the loop
	done chan struct{}
}

// startRenew starts renewing the lease of the pause main just reported.
func (d *ckptDriver) startRenew(ctx context.Context, main *hostConn, leaseSeconds float64) {
	lease := time.Duration(leaseSeconds * float64(time.Second))
	if lease <= 0 {
		lease = defaultLease
	}
	every := max(lease/3, 10*time.Millisecond)
	deadline := main.timeout
	if deadline == 0 {
		deadline = callTimeout
	}
	until := time.Now().Add(deadline + lease)
	// A cancelled checkpoint still resumes its guest: renew until then.
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &leaseRenewal{stop: cancel, done: make(chan struct{})}
	d.renewMu.Lock()
	if d.renew != nil { // one pause per checkpoint; never two renewals
		d.renewMu.Unlock()
		cancel()
		return
	}
	d.renew = r
	d.renewMu.Unlock()
	vmp := agentrpc.VMParams{VM: d.l.vm}
	go func() {
		defer close(r.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		failing := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if time.Now().After(until) {
				d.s.emit(api.Event{Type: api.EvLog, Level: api.Warn, Op: "checkpoint", ID: d.id, Host: main.spec.Name,
					Message: fmt.Sprintf("checkpoint %s: the guest has been paused past the call deadline (%s); no more lease renewals, %s resumes it within %s", d.id, deadline, main.spec.Name, lease)})
				return
			}
			err := main.callFor(ctx, agentrpc.Renew, vmp, nil, every)
			if ctx.Err() != nil {
				return // stopped: the resume is on its way
			}
			switch {
			case err != nil && !failing:
				failing = true
				d.s.emit(api.Event{Type: api.EvLog, Level: api.Warn, Op: "checkpoint", ID: d.id, Host: main.spec.Name,
					Message: fmt.Sprintf("checkpoint %s: renewing the lease on %s failed: %v (without renewals it resumes the guest within %s, and the checkpoint is not committed)", d.id, main.spec.Name, err, lease)})
			case err == nil && failing:
				failing = false
				d.s.emit(api.Event{Type: api.EvLog, Level: api.Info, Op: "checkpoint", ID: d.id, Host: main.spec.Name,
					Message: fmt.Sprintf("checkpoint %s: the lease on %s is renewed again", d.id, main.spec.Name)})
			}
		}
	}()
}

// stopRenew ends the renewals (before the resume, and when the checkpoint
// ends): a renewal in flight is cancelled, not waited for.
func (d *ckptDriver) stopRenew() {
	d.renewMu.Lock()
	r := d.renew
	d.renewMu.Unlock()
	if r == nil {
		return
	}
	r.stop()
	<-r.done
}
