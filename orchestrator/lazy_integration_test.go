package orchestrator_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"dcres/api"
)

const lazyProfile = `name: lazy
lab: {hosts: 3}
vm:
  name: vm1
  driver: synthetic
  memory: 256MiB
  split: {main: 20%, sub1: 40%, sub2: 40%}
  cache: 5%
  workload: {pattern: uniform, dirty_rate: 64MiB/s, seed: 12}
`

// TestIntegrationLazyRestore: the guest runs before the homes have loaded,
// asks them for what it needs first, and every page verifies once they did.
func TestIntegrationLazyRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: runs agent processes")
	}
	_, s := startLab(t, lazyProfile)
	ctx := context.Background()
	time.Sleep(2 * time.Second)
	c, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
	if err != nil {
		t.Fatal(err)
	}
	for _, pl := range []string{"same", "main=20%,sub2=80%"} {
		res, err := s.Restore(ctx, api.RestoreRequest{From: c.ID, Placement: pl, Lazy: true})
		if err != nil {
			t.Fatalf("lazy restore onto %s: %v", pl, err)
		}
		if res.RunningSeconds <= 0 || res.RunningSeconds > res.Seconds {
			t.Errorf("time to running %.3fs, to complete %.3fs", res.RunningSeconds, res.Seconds)
		}
		time.Sleep(time.Second)
		if g, err := s.Verify(ctx, ""); err != nil || g.Errors != 0 || g.Pages == 0 {
			t.Fatalf("guest after a lazy restore onto %s: %+v %v", pl, g, err)
		}
	}
}

// TestIntegrationLazyRestoreHomeDies: a home that dies while the restored
// guest already runs halts the guest with an error naming the host; the
// guest never runs on with pages missing.
func TestIntegrationLazyRestoreHomeDies(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: runs agent processes")
	}
	t.Setenv("DCRES_FAULT", "sub2@restore.wait:before:kill")
	_, s := startLab(t, lazyProfile)
	ctx := context.Background()
	time.Sleep(time.Second)
	c, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Restore(ctx, api.RestoreRequest{From: c.ID, Lazy: true})
	if err == nil || !strings.Contains(err.Error(), "sub2") {
		t.Fatalf("restore with a dying home: %v", err)
	}
	if _, err := s.Verify(ctx, ""); err == nil {
		t.Fatal("a guest is still running after its home died during a lazy restore")
	}
}
