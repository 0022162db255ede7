package orchestrator_test

import (
	"context"
	"testing"
	"time"

	"dcres/api"
)

// TestIntegrationCompactEqualsChain: a chain of 5 incremental checkpoints
// and its compacted full checkpoint restore to the same pages: after each
// restore the guest checks every page against the version table of the same
// cut, with 0 errors.
func TestIntegrationCompactEqualsChain(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: runs agent processes")
	}
	_, s := startLab(t, `name: compact
lab: {hosts: 3}
vm:
  name: vm1
  driver: synthetic
  memory: 128MiB
  split: {main: 30%, sub1: 40%, sub2: 30%}
  cache: 5%
  workload: {pattern: uniform, dirty_rate: 48MiB/s, seed: 31}
`)
	ctx := context.Background()
	time.Sleep(2 * time.Second)
	if _, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"}); err != nil {
		t.Fatal(err)
	}
	var last *api.CheckpointResult
	for i := 0; i < 5; i++ {
		time.Sleep(300 * time.Millisecond)
		res, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres", Incremental: true, Live: i%2 == 1})
		if err != nil {
			t.Fatalf("incremental %d: %v", i, err)
		}
		last = res
	}
	full, err := s.Compact(ctx, last.ID)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Verify(ctx, full.ID)
	if err != nil || v.Errors != 0 {
		t.Fatalf("verify of the compacted checkpoint: %+v %v", v, err)
	}
	for _, from := range []string{full.ID, last.ID, full.ID} {
		if _, err := s.Restore(ctx, api.RestoreRequest{From: from}); err != nil {
			t.Fatalf("restore of %s: %v", from, err)
		}
		time.Sleep(500 * time.Millisecond)
		g, err := s.Verify(ctx, "")
		if err != nil || g.Errors != 0 || g.Pages == 0 {
			t.Fatalf("guest after restoring %s: %+v %v", from, g, err)
		}
	}
	// Onto one host, from the compacted checkpoint.
	if _, err := s.Restore(ctx, api.RestoreRequest{From: full.ID, Placement: "single:main"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if g, err := s.Verify(ctx, ""); err != nil || g.Errors != 0 {
		t.Fatalf("guest on one host: %+v %v", g, err)
	}
}
