package orchestrator_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dcres/api"
)

const parityProfile = `name: parity
lab: {hosts: 3}
vm:
  name: vm1
  driver: synthetic
  memory: 128MiB
  split: {main: 40%, sub1: 30%, sub2: 30%}
  workload: {pattern: uniform, dirty_rate: 32MiB/s, seed: 29}
`

// TestIntegrationParity: a checkpoint with one Reed-Solomon parity shard
// per group (each host streams its files to the parity holders, which store
// only parity) restores with a sub-host's directory gone, with the main
// host's directory gone (its device state too), and with a host dead:
// every time the lost files are rebuilt from parity first, and the guest
// verifies every page. verify reports the parity shards with the files,
// and healthy again after the in-place rebuilds. The overhead against a
// checkpoint without redundancy is logged.
func TestIntegrationParity(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: runs agent processes")
	}
	l, s := startLab(t, parityProfile)
	ctx := context.Background()
	time.Sleep(3 * time.Second)
	plain, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres", Parity: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("parity overhead: %d bytes of parity on disk for %d bytes saved (%.0f%%; a replica would add 100%%); %d bytes streamed to the holders in %.2fs; checkpoint %.2fs with parity, %.2fs without (pause %.3fs, %.3fs)",
		c.ParityBytes, c.BytesSaved, 100*float64(c.ParityBytes)/float64(c.BytesSaved), c.ReplicaBytes, c.ReplicaSeconds, c.Seconds, plain.Seconds, c.PauseSeconds, plain.PauseSeconds)
	if c.ParityBytes == 0 || c.ParityBytes > c.BytesSaved || c.BytesOverNetwork != 0 {
		t.Errorf("parity %d bytes for %d saved, %d over the network during the pause", c.ParityBytes, c.BytesSaved, c.BytesOverNetwork)
	}
	health := func(what string, wantLacking int) {
		t.Helper()
		v, err := s.Verify(ctx, c.ID)
		if err != nil {
			t.Fatalf("verify %s: %v", what, err)
		}
		shards := 0
		for _, h := range v.Redundancy {
			if len(h.File) > 7 && h.File[:7] == "parity-" {
				shards++
			}
		}
		if shards != 3 || len(lacking(v.Redundancy)) != wantLacking {
			t.Fatalf("verify %s: %d parity shards (want 3), lacking %v (want %d)", what, shards, lacking(v.Redundancy), wantLacking)
		}
	}
	health("after the checkpoint", 0)
	dir := func(host string) string { return filepath.Join(l.Dir, "hosts", host, "checkpoints", "vm1", c.ID) }

	for _, host := range []string{"sub2", "main"} {
		if err := os.RemoveAll(dir(host)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Restore(ctx, api.RestoreRequest{From: c.ID, PlanOnly: true}); err == nil {
			t.Errorf("a plan with %s's files lost and not yet rebuilt: no error", host)
		}
		start := time.Now()
		res, err := s.Restore(ctx, api.RestoreRequest{From: c.ID})
		if err != nil {
			t.Fatalf("restore without %s's directory: %v", host, err)
		}
		t.Logf("restore without %s's directory: %.2fs in all (rebuild from parity first), load %.2fs", host, time.Since(start).Seconds(), res.Seconds)
		verifyGuest(t, s)
		health("after "+host+"'s files were rebuilt", 0)
	}

	// sub1 dies: its files are rebuilt onto main, as replicas; its parity
	// shard is lost with it.
	if err := l.Agent("sub1").Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := s.Restore(ctx, api.RestoreRequest{From: c.ID, Placement: "main=50%,sub2=50%"}); err != nil {
		t.Fatalf("restore with sub1 dead: %v", err)
	}
	verifyGuest(t, s)
	health("with sub1 dead", 1)
}
