package orchestrator_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"dcres/api"
	"dcres/internal/testreq"
	"dcres/lab"
	"dcres/orchestrator"
	"dcres/profiles"
	"dcres/transport"
)

// requireQEMUNetns skips a test that needs QEMU, the verifying guest and
// network namespaces, unless DCRES_REQUIRE_QEMU=1 (or DCRES_REQUIRE_NETNS=1
// for the namespaces) makes a missing piece a failure.
func requireQEMUNetns(t *testing.T) {
	t.Helper()
	testreq.SplitQEMU(t)
}

// startNetnsLab starts a lab of the profile text in network namespaces
// (agent processes of a freshly built dcres) and a session on it with the
// VM started. A lab that falls back to loopback is a skip, or a failure
// under DCRES_REQUIRE_NETNS=1 or DCRES_REQUIRE_QEMU=1.
func startNetnsLab(t *testing.T, profile string) (*lab.Lab, *orchestrator.Session) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dcres")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/dcres").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	p, err := profiles.Parse("test.yaml", []byte(profile))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := lab.Start(ctx, p, lab.Options{Dir: t.TempDir(), Binary: bin, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("closing the lab: %v", err)
		}
	})
	if !l.Netns {
		if os.Getenv("DCRES_REQUIRE_NETNS") == "1" || os.Getenv("DCRES_REQUIRE_QEMU") == "1" {
			t.Fatalf("the lab is not in network namespaces: %s", l.Note)
		}
		t.Skipf("the lab is not in network namespaces: %s", l.Note)
	}
	hk, err := transport.KnownHosts(l.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := orchestrator.Connect(ctx, orchestrator.Config{Profile: p, Hosts: l.Hosts, Signers: []ssh.Signer{l.Signer}, HostKey: hk, LinkRate: p.Lab.LinkRate})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return l, s
}

// A QEMU guest over three of four namespaced hosts (sub3 holds nothing at
// the checkpoint: it is the spare).
const qemuPlacementProfile = `name: qemu-placements
lab: {hosts: 4, netns: true, link: {rate: 1gbit}}
vm:
  name: vm1
  driver: qemu
  memory: 384MiB
  split: {main: 50%, sub1: 25%, sub2: 25%, sub3: 0%}
  workload: {pattern: uniform, dirty_rate: 4MiB/s, seed: 17}
`

// shmFiles lists the RAM files in /dev/shm of the lab's agents (each names
// its files by a hash of its data directory).
func shmFiles(l *lab.Lab) map[string]bool {
	out := map[string]bool{}
	ents, _ := os.ReadDir("/dev/shm")
	for _, e := range ents {
		for _, h := range l.Hosts {
			sum := sha256.Sum256([]byte(filepath.Join(l.Dir, "hosts", h.Name)))
			if strings.HasPrefix(e.Name(), "dcres-"+hex.EncodeToString(sum[:4])+"-") {
				out[e.Name()] = true
			}
		}
	}
	return out
}

// pulledBy is what host pulled over the network during restore res (zero
// pages are not sent: pieces elide them).
func pulledBy(res *api.RestoreResult, host string) int64 {
	for _, h := range res.PerHost {
		if h.Host == host {
			return h.Pulled
		}
	}
	return 0
}

// TestIntegrationQEMURestorePlacements: one checkpoint of a real QEMU guest
// split over three namespaced hosts, with one replica of every host's
// files, restored onto four hosts, onto the main host alone (a normal VM),
// lazily onto the same three, and, after one host's checkpoint directory is
// deleted, onto the same three from the replica; then a checkpoint with
// parity, restored after the main host's directory is deleted (rebuilt from
// parity first). After each the guest runs and verifies all of its memory
// with 0 errors.
func TestIntegrationQEMURestorePlacements(t *testing.T) {
	requireQEMUNetns(t)
	l, s := startNetnsLab(t, qemuPlacementProfile)
	t.Cleanup(func() {
		l.Close() // before the check (the lab's own cleanup runs later: a no-op then)
		for f := range shmFiles(l) {
			t.Errorf("/dev/shm/%s is left behind", f)
			os.Remove(filepath.Join("/dev/shm", f))
		}
	})
	ctx := context.Background()
	time.Sleep(4 * time.Second) // the guest boots and dirties memory

	c, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres", Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	if c.BytesOverNetwork != 0 || c.ReplicaBytes < c.BytesSaved {
		t.Errorf("checkpoint: %d bytes over the network (want 0), replicas %d bytes of %d saved", c.BytesOverNetwork, c.ReplicaBytes, c.BytesSaved)
	}
	t.Logf("checkpoint %s: %.2fs, pause %.3fs, %d bytes saved; replicas %d bytes in %.2fs", c.ID, c.Seconds, c.PauseSeconds, c.BytesSaved, c.ReplicaBytes, c.ReplicaSeconds)

	runAndVerify := func(what string, d time.Duration) {
		t.Helper()
		time.Sleep(d)
		v, err := s.Verify(ctx, "")
		if err != nil || v.Errors != 0 || v.Pages == 0 {
			t.Fatalf("guest after %s: %+v %v", what, v, err)
		}
	}
	restore := func(what string, req api.RestoreRequest) *api.RestoreResult {
		t.Helper()
		req.From = c.ID
		res, err := s.Restore(ctx, req)
		if err != nil {
			t.Fatalf("restore %s: %v", what, err)
		}
		t.Logf("restore %s: %.2fs, %d bytes pulled over the network", what, res.Seconds, res.BytesOverNetwork)
		return res
	}

	// Onto four hosts: sub3, which held nothing, gets a fifth of the memory.
	res := restore("onto 4 hosts", api.RestoreRequest{Placement: "main=50%,sub1=15%,sub2=15%,sub3=20%"})
	if len(res.PerHost) != 4 || pulledBy(res, "sub3") == 0 {
		t.Errorf("restore onto 4 hosts: %d hosts loaded, sub3 pulled %d bytes (want 4 hosts, sub3 pulling)", len(res.PerHost), pulledBy(res, "sub3"))
	}
	var planned int64
	for _, tg := range res.Plan.Targets {
		planned += tg.PullBytes
	}
	if planned != res.BytesOverNetwork {
		t.Errorf("restore onto 4 hosts: the plan said %d bytes to pull (zero pages left out), the restore pulled %d", planned, res.BytesOverNetwork)
	}
	runAndVerify("the restore onto 4 hosts", 10*time.Second)

	// Onto the main host alone: a normal VM, every page there.
	res = restore("onto main alone", api.RestoreRequest{Placement: "single:main"})
	if len(res.PerHost) != 1 || res.BytesOverNetwork == 0 {
		t.Errorf("restore onto main alone: %d hosts loaded, %d bytes pulled (want 1 host pulling the others' pages)", len(res.PerHost), res.BytesOverNetwork)
	}
	runAndVerify("the restore onto main alone", 10*time.Second)

	// Lazily onto the same hosts: running before every page is home.
	res = restore("lazily", api.RestoreRequest{Lazy: true})
	if res.RunningSeconds <= 0 || res.RunningSeconds > res.Seconds {
		t.Errorf("lazy restore: time to running %.3fs, to complete %.3fs", res.RunningSeconds, res.Seconds)
	}
	t.Logf("lazy restore of the QEMU guest: time to running %.3fs, time to complete %.3fs", res.RunningSeconds, res.Seconds)
	runAndVerify("the lazy restore", 5*time.Second)

	// sub2 loses its checkpoint directory: its piece comes from its replica.
	if err := os.RemoveAll(filepath.Join(l.Dir, "hosts", "sub2", "checkpoints", "vm1", c.ID)); err != nil {
		t.Fatal(err)
	}
	v, err := s.Verify(ctx, c.ID)
	if err != nil || v.Errors == 0 || !strings.Contains(strings.Join(v.Faults, " "), "replica") {
		t.Fatalf("verify of the checkpoint without sub2's directory: %+v %v", v, err)
	}
	restore("without sub2's directory", api.RestoreRequest{})
	runAndVerify("the restore from sub2's replica", 5*time.Second)

	// Parity instead of replicas, against no redundancy at all; then the
	// main host loses its directory (node 0's pages and the device state),
	// and the restore rebuilds them from parity first.
	plain, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres", Parity: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("QEMU parity overhead: %d bytes of parity on disk for %d saved (%.0f%%), streamed in %.2fs; checkpoint %.2fs with parity, %.2fs without, %.2fs with a replica (pause %.3fs, %.3fs, %.3fs)",
		pc.ParityBytes, pc.BytesSaved, 100*float64(pc.ParityBytes)/float64(max(pc.BytesSaved, 1)), pc.ReplicaSeconds, pc.Seconds, plain.Seconds, c.Seconds, pc.PauseSeconds, plain.PauseSeconds, c.PauseSeconds)
	if pc.ParityBytes == 0 || pc.BytesOverNetwork != 0 {
		t.Errorf("parity checkpoint: %d bytes of parity, %d over the network during the pause", pc.ParityBytes, pc.BytesOverNetwork)
	}
	if err := os.RemoveAll(filepath.Join(l.Dir, "hosts", "main", "checkpoints", "vm1", pc.ID)); err != nil {
		t.Fatal(err)
	}
	c = pc
	restore("without main's directory, from parity", api.RestoreRequest{})
	runAndVerify("the restore rebuilt from parity", 5*time.Second)
}
