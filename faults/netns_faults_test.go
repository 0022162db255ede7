package faults

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"dcres/api"
	"dcres/lab"
	"dcres/orchestrator"
	"dcres/transport"
)

// Link faults need a lab in network namespaces (root, iproute2): every agent
// in its own namespace behind a veth on a bridge; cutting a link takes the
// bridge end of a host's veth down, slowing one puts a tbf on it.

// netnsCallTimeout is the coordinator's control call deadline in these
// rows (60 s by default), so that a row ends in seconds. Not shorter: after
// a 3 s cut, TCP's retransmission backoff alone can take seconds to notice
// the link is back.
const netnsCallTimeout = 10 * time.Second

func requireNetns(t *testing.T) {
	t.Helper()
	integration(t)
	why := ""
	if os.Geteuid() != 0 {
		why = "network namespaces need root"
	}
	if why != "" {
		if os.Getenv("DCRES_REQUIRE_NETNS") == "1" {
			t.Fatalf("DCRES_REQUIRE_NETNS=1 but %s", why)
		}
		t.Skip(why)
	}
}

// startNetnsLab is startLab in network namespaces, with the short call
// deadline and a lease.
func startNetnsLab(t *testing.T, dir string, lease time.Duration) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: dir, prof: profile(t)}
	f.prof.Lab.Netns = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := lab.Start(ctx, f.prof, lab.Options{Dir: dir, Binary: binary, Lease: lease, Logf: t.Logf})
	if err != nil {
		t.Fatalf("netns lab start: %v", err)
	}
	f.lab = l
	if !l.Netns {
		l.Close()
		t.Fatalf("the lab is not in network namespaces: %s", l.Note)
	}
	hk, err := transport.KnownHosts(l.KnownHosts)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	sess, err := orchestrator.Connect(ctx, orchestrator.Config{Profile: f.prof, Hosts: l.Hosts, Signers: []ssh.Signer{l.Signer},
		HostKey: hk, LinkRate: f.prof.Lab.LinkRate, CallTimeout: netnsCallTimeout, Logf: f.logf})
	if err != nil {
		l.Close()
		t.Fatalf("connect: %v", err)
	}
	f.sess = sess
	t.Cleanup(f.close)
	return f
}

// linkRow runs one link fault in a netns lab over a copy of the earlier
// checkpoint's lab: act breaks things and says what the user saw; the row
// then checks the guest runs, and (in a loopback lab over the same
// directory) what is on disk and that the earlier checkpoint verifies and
// restores.
func linkRow(t *testing.T, row Row, lease time.Duration, act func(f *fixture) (sees string, problems []string)) {
	dir, id := earlier(t)
	f := startNetnsLab(t, dir, lease)
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	if err := f.sess.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	sees, problems := act(f)
	for _, h := range hostNames() {
		if err := f.lab.RestoreLink(h); err != nil {
			problems = append(problems, "restoring the link of "+h+": "+err.Error())
		}
		if err := f.lab.SetLinkRate(h, f.prof.Lab.LinkRate); err != nil {
			problems = append(problems, "restoring the rate of "+h+": "+err.Error())
		}
	}
	if ok, last := guestRunning(f.sess, 10*time.Second); !ok {
		problems = append(problems, "guest not running afterwards: "+last)
	} else {
		sees += " — guest running"
	}
	row.Sees = sees
	f.close()
	onDisk, earlierSum, problem := checkEarlier(t, dir, id, "")
	row.OnDisk, row.Earlier = onDisk, earlierSum
	if problem != "" {
		problems = append(problems, problem)
	}
	row.Problem = strings.Join(problems, "; ")
	row.OK = row.Problem == ""
	record(t, row)
}

func secs(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// cutAfterPause cuts host's link as soon as the main host's ckpt.pause
// returns (the guest is paused and paging quiet; the saves are being sent).
func cutAfterPause(t *testing.T, f *fixture, host string) (stop func()) {
	ch, unsub := f.sess.Subscribe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range ch {
			if ev.Type == api.EvLog && ev.Op == "checkpoint" && strings.Contains(ev.Message, "pause on main done") {
				if err := f.lab.CutLink(host); err != nil {
					t.Error(err)
				}
				return
			}
		}
	}()
	return func() { unsub(); <-done }
}

// TestIntegrationFaultLinkCutSave: sub1's link goes down as soon as main
// paused the guest, and stays down: sub1's ckpt.save (or its answer) is
// lost. The checkpoint must fail at the call deadline, naming sub1, and the
// guest resume while the link is still down.
func TestIntegrationFaultLinkCutSave(t *testing.T) {
	requireNetns(t)
	row := Row{Fault: "link of sub1 cut (netns veth down)", Phase: "ckpt.save (cut when main's pause returned), link stays down"}
	linkRow(t, row, 0, func(f *fixture) (string, []string) {
		var problems []string
		stop := cutAfterPause(t, f, "sub1")
		ctx, cancel := ctxT(60 * time.Second)
		defer cancel()
		start := time.Now()
		res, err := f.sess.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
		took := time.Since(start)
		stop()
		if err == nil {
			problems = append(problems, "checkpoint "+res.ID+" succeeded over a cut link")
			return "(no error)", problems
		}
		sees := firstLine(err) + " (after " + secs(took) + ")"
		if !strings.Contains(err.Error(), "sub1") {
			problems = append(problems, "the error does not name sub1")
		}
		if took > 4*netnsCallTimeout {
			problems = append(problems, "the checkpoint took "+secs(took)+" to fail")
		}
		// The coordinator resumed the guest (a failed resume would be in
		// the error); while sub1 is cut off the guest's paging waits for it,
		// and so do main's figures. linkRow then checks it runs on, well
		// before the 30 s lease could have resumed it.
		if strings.Contains(err.Error(), "resume on main") {
			problems = append(problems, "the guest was not resumed")
		} else {
			sees += " — guest resumed; its paging waits for sub1 until the link is back"
		}
		return sees, problems
	})
}

// verifies checks that checkpoint id verifies: "; it verifies" for the
// row's text, or the problem, naming what.
func (f *fixture) verifies(ctx context.Context, id, what string) (string, []string) {
	vr, err := f.sess.Verify(ctx, id)
	if err != nil || vr.Errors != 0 {
		return "", []string{fmt.Sprintf("%s does not verify: %v %+v", what, err, vr)}
	}
	return "; it verifies", nil
}

// TestIntegrationFaultLinkFlapSave: sub1's link is down for 2 s from the
// pause on, then back: the checkpoint completes (TCP carries
// the calls over the gap) and verifies.
func TestIntegrationFaultLinkFlapSave(t *testing.T) {
	requireNetns(t)
	row := Row{Fault: "link of sub1 cut for 2 s (netns veth down)", Phase: "ckpt.save (cut when main's pause returned), link back after 2 s"}
	linkRow(t, row, 0, func(f *fixture) (string, []string) {
		var problems []string
		stop := cutAfterPause(t, f, "sub1")
		back := time.AfterFunc(2*time.Second, func() { f.lab.RestoreLink("sub1") })
		defer back.Stop()
		ctx, cancel := ctxT(60 * time.Second)
		defer cancel()
		start := time.Now()
		res, err := f.sess.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
		took := time.Since(start)
		stop()
		if err != nil {
			// Failing at the deadline is honest too, if it says so.
			if !strings.Contains(err.Error(), "sub1") {
				problems = append(problems, "the error does not name sub1")
			}
			return firstLine(err) + " (after " + secs(took) + ")", problems
		}
		sees := fmt.Sprintf("checkpoint %s committed in %s (guest paused %s)", shortID(res.ID), secs(took), secs(time.Duration(res.PauseSeconds*float64(time.Second))))
		more, vp := f.verifies(ctx, res.ID, "the checkpoint taken over the gap")
		return sees + more, append(problems, vp...)
	})
}

// TestIntegrationFaultLinkCutPaging: sub1's link goes down for 3 s while
// the guest pages from it (its cache holds 10% of memory): fetches wait, the
// guest stalls, and runs on with no check error once the link is back.
func TestIntegrationFaultLinkCutPaging(t *testing.T) {
	requireNetns(t)
	row := Row{Fault: "link of sub1 cut for 3 s (netns veth down)", Phase: "remote paging (guest fetching from sub1)"}
	linkRow(t, row, 0, func(f *fixture) (string, []string) {
		var problems []string
		written := func() int64 {
			ch, stop := f.sess.Subscribe()
			defer stop()
			timeout := time.After(5 * time.Second)
			for {
				select {
				case ev := <-ch:
					if ev.Type == api.EvGuest && ev.Guest != nil {
						return ev.Guest.PagesWritten
					}
				case <-timeout:
					return -1
				}
			}
		}
		if err := f.lab.CutLink("sub1"); err != nil {
			t.Fatal(err)
		}
		w0 := written()
		time.Sleep(3 * time.Second)
		w1 := written()
		if err := f.lab.RestoreLink("sub1"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		ctx, cancel := ctxT(60 * time.Second)
		defer cancel()
		vr, err := f.sess.Verify(ctx, "")
		if err != nil || vr.Errors != 0 || vr.Pages == 0 {
			problems = append(problems, fmt.Sprintf("guest after the cut: %v %+v", err, vr))
		}
		sees := fmt.Sprintf("guest paging stalls (%d pages written during the cut); after it: verify %d pages, %d errors", w1-w0, vr.Pages, vr.Errors)
		return sees, problems
	})
}

// TestIntegrationFaultLinkSlow: sub1's link slowed to 4 Mbit/s (tbf) during
// a D-CRES checkpoint, which moves no page over the network, and to
// 32 Mbit/s during a traditional one, which gathers sub1's pages over it.
func TestIntegrationFaultLinkSlow(t *testing.T) {
	requireNetns(t)
	for _, c := range []struct {
		method string
		rate   int64
	}{{"dcres", 4_000_000}, {"traditional", 32_000_000}} {
		t.Run(c.method, func(t *testing.T) {
			row := Row{Fault: fmt.Sprintf("link of sub1 slowed to %d Mbit/s (tbf)", c.rate/1_000_000), Phase: c.method + " checkpoint"}
			linkRow(t, row, 0, func(f *fixture) (string, []string) {
				var problems []string
				ctx, cancel := ctxT(60 * time.Second)
				defer cancel()
				start := time.Now()
				_, err := f.sess.Checkpoint(ctx, api.CheckpointRequest{Method: c.method})
				if err != nil {
					return firstLine(err), []string{"checkpoint on the unshaped link: " + err.Error()}
				}
				unshaped := time.Since(start)
				if err := f.lab.SetLinkRate("sub1", c.rate); err != nil {
					t.Fatal(err)
				}
				start = time.Now()
				res, err := f.sess.Checkpoint(ctx, api.CheckpointRequest{Method: c.method})
				took := time.Since(start)
				if err != nil {
					return firstLine(err) + " (after " + secs(took) + ")", []string{"the checkpoint failed on a slow link: " + err.Error()}
				}
				sees := fmt.Sprintf("checkpoint %s committed in %s (%s unshaped; guest paused %s; %d bytes over the network)",
					shortID(res.ID), secs(took), secs(unshaped), secs(time.Duration(res.PauseSeconds*float64(time.Second))), res.BytesOverNetwork)
				more, vp := f.verifies(ctx, res.ID, "the checkpoint")
				return sees + more, append(problems, vp...)
			})
		})
	}
}

// TestIntegrationFaultLeaseDuringSave: a host's link is down for 3 s from
// the pause on, longer than main's lease (2 s). sub1 cut off: the
// coordinator, alive and reaching main, renews the lease while it waits,
// and the checkpoint commits once the link is back. main cut off: no renewal
// reaches it, so it resumes the guest on its own before it saved; the
// checkpoint must not be committed (its cut is no longer one instant), and
// the earlier one still restores.
func TestIntegrationFaultLeaseDuringSave(t *testing.T) {
	requireNetns(t)
	for _, host := range []string{"sub1", "main"} {
		t.Run(host, func(t *testing.T) {
			row := Row{Fault: "link of " + host + " cut for 3 s, lease 2 s", Phase: "ckpt.save (cut when main's pause returned)"}
			linkRow(t, row, 2*time.Second, func(f *fixture) (string, []string) {
				var problems []string
				stop := cutAfterPause(t, f, host)
				back := time.AfterFunc(3*time.Second, func() { f.lab.RestoreLink(host) })
				defer back.Stop()
				ctx, cancel := ctxT(60 * time.Second)
				defer cancel()
				start := time.Now()
				res, err := f.sess.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
				took := time.Since(start)
				stop()
				if host != "main" {
					if err != nil {
						return firstLine(err) + " (after " + secs(took) + ")", []string{"the checkpoint failed although the coordinator renewed main's lease: " + err.Error()}
					}
					sees := fmt.Sprintf("checkpoint %s committed in %s (guest paused %s: the coordinator renewed main's lease)", shortID(res.ID), secs(took), secs(time.Duration(res.PauseSeconds*float64(time.Second))))
					more, vp := f.verifies(ctx, res.ID, "the checkpoint")
					return sees + more, append(problems, vp...)
				}
				if err == nil {
					sees := fmt.Sprintf("checkpoint %s committed in %s", shortID(res.ID), secs(took))
					problems = append(problems, "a checkpoint was committed although the lease resumed the guest before main saved")
					if _, rerr := f.sess.Restore(ctx, api.RestoreRequest{From: res.ID, Placement: "same"}); rerr == nil {
						time.Sleep(500 * time.Millisecond)
						vr, verr := f.sess.Verify(ctx, "")
						sees += fmt.Sprintf("; restored, guest verify: %d pages, %d errors %v", vr.Pages, vr.Errors, verr)
					}
					return sees, problems
				}
				sees := firstLine(err) + " (after " + secs(took) + ")"
				if !strings.Contains(err.Error(), "lease") {
					problems = append(problems, "the error does not say the lease resumed the guest")
				}
				return sees, problems
			})
		})
	}
}
