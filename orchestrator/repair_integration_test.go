package orchestrator_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dcres/api"
	"dcres/orchestrator"
)

const repairProfile = `name: repair
lab: {hosts: 4}
vm:
  name: vm1
  driver: synthetic
  memory: 128MiB
  split: {main: 40%, sub1: 30%, sub2: 30%, sub3: 0%}
  workload: {pattern: uniform, dirty_rate: 24MiB/s, seed: 23}
`

// lacking lists the files of a health report with fewer good copies than
// wanted.
func lacking(hs []api.FileHealth) []string {
	var out []string
	for _, h := range hs {
		if h.Good < h.Want {
			out = append(out, h.Of+"/"+h.File)
		}
	}
	return out
}

func checkHealthy(t *testing.T, s *orchestrator.Session, id string) {
	t.Helper()
	v, err := s.Verify(context.Background(), id)
	if err != nil || v.Errors != 0 || len(v.Redundancy) == 0 || len(lacking(v.Redundancy)) != 0 {
		t.Fatalf("verify after repair: %v; faults %v; lacking %v", err, v.Faults, lacking(v.Redundancy))
	}
	for _, h := range v.Redundancy {
		if h.Want != 2 || h.Good != 2 {
			t.Fatalf("verify after repair: %+v, want 2 good copies", h)
		}
	}
}

// TestIntegrationRepair: verify reports every file's good copies; a lost
// checkpoint directory and a damaged piece are rebuilt in place from their
// replicas; with a host gone, its files get new replicas on a chosen host;
// after each repair verify reports the redundancy healthy, and the last
// restores without the lost host with 0 guest errors. The plan's estimate
// of bytes to pull (zero pages left out) is what the restore pulls.
func TestIntegrationRepair(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: runs agent processes")
	}
	l, s := startLab(t, repairProfile)
	ctx := context.Background()
	time.Sleep(2 * time.Second)
	c, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres", Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkHealthy(t, s, c.ID)
	dir := func(host string) string { return filepath.Join(l.Dir, "hosts", host, "checkpoints", "vm1", c.ID) }

	// 1. sub2's directory is gone: its piece and its replica of sub1's
	// files lack a copy; repair rebuilds both on sub2.
	if err := os.RemoveAll(dir("sub2")); err != nil {
		t.Fatal(err)
	}
	v, err := s.Verify(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(lacking(v.Redundancy), " "); !strings.Contains(got, "sub2/") || !strings.Contains(got, "sub1/") {
		t.Fatalf("verify without sub2's directory: lacking %q", got)
	}
	r, err := s.Repair(ctx, c.ID, "")
	if err != nil {
		t.Fatalf("repair of sub2's directory: %v", err)
	}
	t.Logf("repair of a lost directory: %v, %d bytes in %.2fs", r.Rebuilt, r.Bytes, r.Seconds)
	checkHealthy(t, s, c.ID)

	// 2. A byte of main's piece flips: repair brings its replica back.
	ents, err := os.ReadDir(dir("main"))
	if err != nil {
		t.Fatal(err)
	}
	var piece string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "piece-") {
			piece = filepath.Join(dir("main"), e.Name())
		}
	}
	f, err := os.OpenFile(piece, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	f.ReadAt(b, 5000)
	b[0] ^= 0x40
	f.WriteAt(b, 5000)
	f.Close()
	if v, err := s.Verify(ctx, c.ID); err != nil || v.Errors == 0 || len(lacking(v.Redundancy)) != 1 {
		t.Fatalf("verify of a flipped byte: %+v %v", v, err)
	}
	if _, err := s.Repair(ctx, c.ID, ""); err != nil {
		t.Fatalf("repair of a damaged piece: %v", err)
	}
	checkHealthy(t, s, c.ID)

	// 3. sub2 dies: in place is not enough; onto sub3, its files and its
	// replicas of others' get new copies, and the checkpoint is healthy
	// without it.
	if err := l.Agent("sub2").Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := s.Repair(ctx, c.ID, ""); err == nil || !strings.Contains(err.Error(), "--onto") {
		t.Fatalf("repair in place with sub2 gone: %v", err)
	}
	r, err = s.Repair(ctx, c.ID, "main")
	if err != nil {
		t.Fatalf("repair onto main: %v", err)
	}
	t.Logf("repair onto main with sub2 gone: %v", r.Rebuilt)
	if n := len(lacking(r.Redundancy)); n != 0 {
		t.Fatalf("after repair onto main: lacking %v", lacking(r.Redundancy))
	}
	// sub2 itself is reported lost; every file still has two good copies.
	v, err = s.Verify(ctx, c.ID)
	if err != nil || len(v.Redundancy) == 0 || len(lacking(v.Redundancy)) != 0 {
		t.Fatalf("verify with sub2 gone after repair: %v; lacking %v", err, lacking(v.Redundancy))
	}

	// The plan's bytes to pull are what the restore pulls.
	pl := "main=40%,sub1=30%,sub3=30%"
	p, err := s.Restore(ctx, api.RestoreRequest{From: c.ID, Placement: pl, PlanOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var planned, zero int64
	for _, tg := range p.Plan.Targets {
		planned += tg.PullBytes
		zero += tg.ZeroPages
	}
	res, err := s.Restore(ctx, api.RestoreRequest{From: c.ID, Placement: pl})
	if err != nil {
		t.Fatalf("restore without sub2 after repair: %v", err)
	}
	if zero == 0 || planned != res.BytesOverNetwork {
		t.Errorf("plan: %d bytes to pull (%d zero pages left out); the restore pulled %d", planned, zero, res.BytesOverNetwork)
	}
	verifyGuest(t, s)
}
