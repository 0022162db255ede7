package faults

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dcres/api"
)

// TestIntegrationFaultSlowSave: one host's save takes 2.5 leases (an
// injected 5 s hang, lease 2 s), as a large guest's save takes longer than
// the default lease. The coordinator renews the main host's lease while it
// waits, so the checkpoint commits and verifies, the guest stays paused
// until the coordinator resumes it, and the main agent never resumes it on
// its own.
func TestIntegrationFaultSlowSave(t *testing.T) {
	integration(t)
	const lease, slow = 2 * time.Second, 5 * time.Second
	for _, host := range []string{"sub1", "main"} {
		t.Run(host, func(t *testing.T) {
			spec := fmt.Sprintf("%s@ckpt.save:before:hang=%s", host, slow)
			row := Row{Fault: fmt.Sprintf("slow save on %s (%s, lease %s)", host, slow, lease), Phase: "ckpt.save (" + spec + ")"}
			var problems []string
			dir, id := earlier(t)
			f := startLab(t, dir, spec, lease)
			ctx, cancel := ctxT(60 * time.Second)
			defer cancel()
			if err := f.sess.Start(ctx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			start := time.Now()
			res, err := f.sess.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
			took := time.Since(start)
			if err != nil {
				row.Sees = firstLine(err)
				problems = append(problems, "a save slower than the lease failed the checkpoint although the coordinator was alive: "+err.Error())
			} else {
				pause := time.Duration(res.PauseSeconds * float64(time.Second))
				row.Sees = fmt.Sprintf("checkpoint %s committed in %s (guest paused %s: the lease renewed)", shortID(res.ID), secs(took), secs(pause))
				if pause < slow {
					problems = append(problems, fmt.Sprintf("the guest was paused %s, less than the %s save: the hang was not injected", secs(pause), slow))
				}
				if vr, err := f.sess.Verify(ctx, res.ID); err != nil || vr.Errors != 0 || len(vr.Faults) > 0 {
					problems = append(problems, fmt.Sprintf("the slow checkpoint does not verify: %v %+v", err, vr))
				} else {
					row.Sees += "; it verifies"
				}
			}
			b, _ := os.ReadFile(filepath.Join(hostDir(dir, "main"), "agent.log"))
			if bytes.Contains(b, []byte("lease expired")) {
				problems = append(problems, "the main agent resumed the guest on its own (lease expired) while the coordinator was alive")
			}
			if ok, last := guestRunning(f.sess, 8*time.Second); !ok {
				problems = append(problems, "guest not running after the checkpoint: "+last)
			} else {
				row.Sees += " — guest running"
			}
			f.close()
			var p string
			row.OnDisk, row.Earlier, p = checkEarlier(t, dir, id, "")
			if p != "" {
				problems = append(problems, p)
			}
			row.Problem = strings.Join(problems, "; ")
			row.OK = row.Problem == ""
			record(t, row)
		})
	}
}
