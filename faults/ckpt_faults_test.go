package faults

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"dcres/agentrpc"
	"dcres/api"
)

// checkpointFault is one injected fault in a checkpoint phase.
type checkpointFault struct {
	host, method, when, action string
}

func (c checkpointFault) spec() string {
	return fmt.Sprintf("%s@%s:%s:%s", c.host, c.method, c.when, c.action)
}

// checkpointPhases are the agent methods of a stop-and-copy checkpoint.
// ckpt.pause goes to the main host only.
var checkpointPhases = []struct{ method, when string }{
	{agentrpc.Pause, "before"}, {agentrpc.Pause, "after"},
	{agentrpc.Save, "before"}, {agentrpc.Save, "after"},
	{agentrpc.Commit, "before"}, {agentrpc.Commit, "after"},
}

func TestIntegrationFaultCheckpointKill(t *testing.T) {
	integration(t)
	for _, host := range []string{"main", "sub1"} {
		for _, ph := range checkpointPhases {
			if host != "main" && ph.method == agentrpc.Pause {
				continue
			}
			c := checkpointFault{host, ph.method, ph.when, "kill"}
			t.Run(c.spec(), func(t *testing.T) { runCheckpointFault(t, c) })
		}
	}
}

func TestIntegrationFaultCheckpointFail(t *testing.T) {
	integration(t)
	for _, host := range []string{"main", "sub1"} {
		for _, ph := range checkpointPhases {
			if host != "main" && ph.method == agentrpc.Pause {
				continue
			}
			c := checkpointFault{host, ph.method, ph.when, "fail"}
			t.Run(c.spec(), func(t *testing.T) { runCheckpointFault(t, c) })
		}
	}
}

// runCheckpointFault takes a checkpoint with the fault armed, then checks
// the surviving hosts, the guest, and (in a new lab over the same
// directory) the earlier checkpoint.
func runCheckpointFault(t *testing.T, c checkpointFault) {
	dir, id := earlier(t)
	row := Row{Fault: faultName(c.action, c.host), Phase: c.when + " " + c.method}
	var problems []string

	f := startLab(t, dir, c.spec(), 0)
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	if err := f.sess.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	res, err := f.sess.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
	failedID := ""
	switch {
	case err != nil:
		row.Sees = firstLine(err)
		if i := strings.Index(row.Sees, "dcres-"); i >= 0 {
			failedID = strings.Fields(row.Sees[i:])[0]
		}
		if failedID == id {
			problems = append(problems, "the new checkpoint got the id of the earlier one ("+id+")")
		}
	case c.method == agentrpc.Commit && c.when == "after":
		// The commit reached the host before it died: a complete
		// checkpoint is an honest outcome.
		row.Sees = "checkpoint " + res.ID + " committed"
		failedID = res.ID
	default:
		problems = append(problems, "the checkpoint succeeded although "+c.spec()+" was armed")
		row.Sees = "(no error)"
	}
	if err != nil && c.action == "kill" && !strings.Contains(row.Sees, c.host) {
		problems = append(problems, "the error does not name the dead host "+c.host)
	}
	// Surviving hosts list nothing incomplete.
	disk := readDisk(t, dir, f.prof.VM.Name)
	for _, h := range hostNames() {
		if c.action == "kill" && h == c.host {
			continue
		}
		for _, got := range disk.committed[h] {
			if got != id && got == failedID && err != nil {
				problems = append(problems, fmt.Sprintf("failed checkpoint %s is committed on %s", got, h))
			}
		}
	}
	if c.action != "kill" || c.host != "main" {
		if ok, last := guestRunning(f.sess, 8*time.Second); !ok {
			problems = append(problems, "guest not running after the failed checkpoint: "+last)
		} else {
			row.Sees += " — guest resumed"
		}
	}
	f.close()

	onDisk, earlierSum, problem := checkEarlier(t, dir, id, failedID)
	row.OnDisk, row.Earlier = onDisk, earlierSum
	if problem != "" {
		problems = append(problems, problem)
	}
	row.Problem = strings.Join(problems, "; ")
	row.OK = row.Problem == ""
	record(t, row)
}

func faultName(action, host string) string {
	switch action {
	case "kill":
		return "SIGKILL agent " + host
	case "fail":
		return "error from agent " + host
	case "hang":
		return "agent " + host + " hangs"
	}
	return action + " " + host
}
