package faults

import (
	"slices"
	"strings"
	"testing"
	"time"

	"dcres/agentrpc"
	"dcres/api"
)

// TestIntegrationFaultOrphanManifest: an agent killed right after its
// commit keeps a manifest the coordinator rolled back everywhere else. The
// row checks that the orphan is really there, that the next session removes
// it (and says so), and that nothing listed is touched.
func TestIntegrationFaultOrphanManifest(t *testing.T) {
	integration(t)
	for _, host := range []string{"main", "sub1"} {
		t.Run(host, func(t *testing.T) { runOrphan(t, host) })
	}
}

func runOrphan(t *testing.T, host string) {
	dir, id := earlier(t)
	row := Row{Fault: "orphan manifest: SIGKILL agent " + host + " after ckpt.commit", Phase: "next session start"}
	var problems []string

	f := startLab(t, dir, host+"@"+agentrpc.Commit+":after:kill", 0)
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	if err := f.sess.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	_, err := f.sess.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
	if err == nil {
		t.Fatalf("the checkpoint succeeded although %s was killed after its commit", host)
	}
	failedID := ""
	if i := strings.Index(err.Error(), "dcres-"); i >= 0 {
		failedID = strings.Fields(err.Error()[i:])[0]
	}
	f.close()
	vm := f.prof.VM.Name
	before := readDisk(t, dir, vm)
	if !slices.Contains(before.committed[host], failedID) || len(before.partialOn()) != 1 {
		// Without an orphan this row proves nothing.
		t.Fatalf("no orphan manifest of %q on %s: %s (error: %v)", failedID, host, before, err)
	}

	// The next session: agents start again, the coordinator connects.
	g := startLab(t, dir, "", 0)
	removed := g.resolved()
	row.Sees = "coordinator log: " + strings.Join(removed, ", ")
	g.mu.Lock()
	for _, l := range g.logs {
		if strings.HasPrefix(l, "removed checkpoint "+failedID) {
			row.Sees = "coordinator log: " + l
		}
	}
	g.mu.Unlock()
	if len(removed) != 1 {
		problems = append(problems, "the session did not report removing the orphan "+failedID)
	}
	after := readDisk(t, dir, vm)
	if slices.Contains(after.ids(), failedID) {
		problems = append(problems, "orphan "+failedID+" still on disk: "+after.String())
	}
	if !slices.Contains(after.ids(), id) {
		problems = append(problems, "the earlier checkpoint "+id+" is gone from disk")
	}
	g.close()

	onDisk, earlierSum, problem := checkEarlier(t, dir, id, failedID)
	row.OnDisk = "before: " + strings.Join(before.partialOn(), ", ") + "; after: " + onDisk
	row.Earlier = earlierSum
	if problem != "" {
		problems = append(problems, problem)
	}
	row.Problem = strings.Join(problems, "; ")
	row.OK = row.Problem == ""
	record(t, row)
}
