package orchestrator_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"dcres/api"
	"dcres/lab"
	"dcres/orchestrator"
	"dcres/profiles"
	"dcres/transport"
)

// startLab runs a real lab of the profile text (agent processes of a freshly
// built dcres) and a session on it with the VM started.
func startLab(t *testing.T, profile string) (*lab.Lab, *orchestrator.Session) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dcres")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/dcres").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	p, err := profiles.Parse("test.yaml", []byte(profile))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l, err := lab.Start(ctx, p, lab.Options{Dir: t.TempDir(), Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	hk, err := transport.KnownHosts(l.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := orchestrator.Connect(ctx, orchestrator.Config{Profile: p, Hosts: l.Hosts, Signers: []ssh.Signer{l.Signer}, HostKey: hk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return l, s
}

const redundancyProfile = `name: redundancy
lab: {hosts: 3}
vm:
  name: vm1
  driver: synthetic
  memory: 128MiB
  split: {main: 40%, sub1: 30%, sub2: 30%}
  workload: {pattern: uniform, dirty_rate: 32MiB/s, seed: 21}
`

func verifyGuest(t *testing.T, s *orchestrator.Session) {
	t.Helper()
	time.Sleep(time.Second)
	v, err := s.Verify(context.Background(), "")
	if err != nil || v.Errors != 0 || v.Pages == 0 {
		t.Fatalf("guest verify: %+v %v", v, err)
	}
}

// TestIntegrationReplicasSurviveALostHost: with one replica of every host's
// files, a checkpoint whose sub-host directory is deleted, or whose sub-host
// is gone, or whose main host's directory is deleted, still restores and
// the guest verifies every page.
func TestIntegrationReplicasSurviveALostHost(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: runs agent processes")
	}
	l, s := startLab(t, redundancyProfile)
	ctx := context.Background()
	time.Sleep(2 * time.Second)
	res, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres", Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.ReplicaBytes < res.BytesSaved {
		t.Errorf("replicas hold %d bytes, less than the %d saved", res.ReplicaBytes, res.BytesSaved)
	}
	ckptDir := func(host string) string { return filepath.Join(l.Dir, "hosts", host, "checkpoints", "vm1", res.ID) }

	// 1. sub2's directory is gone; sub2 itself is fine: same placement.
	if err := os.RemoveAll(ckptDir("sub2")); err != nil {
		t.Fatal(err)
	}
	v, err := s.Verify(ctx, res.ID)
	if err != nil || v.Errors == 0 || !strings.Contains(strings.Join(v.Faults, " "), "replica") {
		t.Fatalf("verify of a damaged-but-redundant checkpoint: %+v %v", v, err)
	}
	if _, err := s.Restore(ctx, api.RestoreRequest{From: res.ID}); err != nil {
		t.Fatalf("restore without sub2's directory: %v", err)
	}
	verifyGuest(t, s)

	// 2. A new checkpoint whose main host's directory is gone: the device
	// state and the main host's pages come from the replicas on sub1.
	resB, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres", Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(l.Dir, "hosts", "main", "checkpoints", "vm1", resB.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Restore(ctx, api.RestoreRequest{From: resB.ID}); err != nil {
		t.Fatalf("restore without the main host's directory: %v", err)
	}
	verifyGuest(t, s)

	// 3. A fresh checkpoint, then sub2 dies: restore onto main and sub1.
	res2, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres", Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Agent("sub2").Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := s.Restore(ctx, api.RestoreRequest{From: res2.ID}); err == nil || !strings.Contains(err.Error(), "sub2") {
		t.Fatalf("restore onto a dead host: %v", err)
	}
	if _, err := s.Restore(ctx, api.RestoreRequest{From: res2.ID, Placement: "main=50%,sub1=50%"}); err != nil {
		t.Fatalf("restore onto the two survivors: %v", err)
	}
	verifyGuest(t, s)
}
