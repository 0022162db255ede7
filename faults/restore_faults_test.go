package faults

import (
	"strings"
	"testing"
	"time"

	"dcres/agentrpc"
	"dcres/api"
)

// restorePhases are the agent methods of a restore: every target loads its
// share, then the main host starts the guest.
var restorePhases = []struct{ method, when string }{
	{agentrpc.RestoreLoad, "before"}, {agentrpc.RestoreLoad, "after"},
	{agentrpc.RestoreStart, "before"}, {agentrpc.RestoreStart, "after"},
}

func TestIntegrationFaultRestore(t *testing.T) {
	integration(t)
	for _, action := range []string{"kill", "fail"} {
		for _, host := range []string{"main", "sub1"} {
			for _, ph := range restorePhases {
				if host != "main" && ph.method == agentrpc.RestoreStart {
					continue // only the main host starts the guest
				}
				c := checkpointFault{host, ph.method, ph.when, action}
				t.Run(c.spec(), func(t *testing.T) { runRestoreFault(t, c) })
			}
		}
	}
}

// runRestoreFault restores the earlier checkpoint with the fault armed,
// then checks, in a clean lab over the same directory, that it still
// verifies and restores.
func runRestoreFault(t *testing.T, c checkpointFault) {
	dir, id := earlier(t)
	row := Row{Fault: faultName(c.action, c.host), Phase: c.when + " " + c.method}
	var problems []string

	f := startLab(t, dir, c.spec(), 0)
	ctx, cancel := ctxT(60 * time.Second)
	_, err := f.sess.Restore(ctx, api.RestoreRequest{From: id, Placement: "same"})
	cancel()
	switch {
	case err != nil:
		row.Sees = firstLine(err)
		if c.action == "kill" && !strings.Contains(row.Sees, c.host) {
			problems = append(problems, "the error does not name the dead host "+c.host)
		}
	case c.method == agentrpc.RestoreStart && c.when == "after" && c.action == "kill":
		// The guest started before the main agent died with it.
		row.Sees = "(restore reported success; the main agent then died)"
	default:
		problems = append(problems, "the restore succeeded although "+c.spec()+" was armed")
		row.Sees = "(no error)"
	}
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
