package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"dcres/api"
	"dcres/orchestrator"
	"dcres/profiles"
	"dcres/transport"
)

// These tests build real labs: namespaces, veths, a bridge, tc, agent
// processes reached over SSH across the bridge.

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// requireNetns skips a test that needs a netns lab where none can be made,
// unless DCRES_REQUIRE_NETNS=1 says this machine must be able to.
func requireNetns(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration: builds network namespaces and runs agents")
	}
	if why := netnsUnavailable(); why != "" {
		if os.Getenv("DCRES_REQUIRE_NETNS") == "1" {
			t.Fatalf("DCRES_REQUIRE_NETNS=1 but %s", why)
		}
		t.Skip(why)
	}
}

// dcresBinary builds the dcres command once: the agents run it.
func dcresBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "dcres-lab-bin-")
		if binErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "dcres"), "dcres/cmd/dcres").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "dcres")
}

func netnsProfile(t *testing.T, hosts int, memory, split, rate string) *profiles.Profile {
	t.Helper()
	p, err := profiles.Parse("test", []byte(fmt.Sprintf(`name: netns-test
lab: {hosts: %d, netns: true, link: {rate: %s}}
vm:
  name: vm1
  driver: synthetic
  memory: %s
  split: %s
  workload: {pattern: uniform, dirty_rate: 16MiB/s, seed: 5}
`, hosts, rate, memory, split)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startLab starts a netns lab of p and connects a coordinator to it, as
// the dcres command does; both are closed at the end of the test.
func startLab(t *testing.T, p *profiles.Profile) (*Lab, *orchestrator.Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := Start(ctx, p, Options{Dir: t.TempDir(), Binary: dcresBinary(t), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if !l.Netns {
		t.Fatalf("lab is not in network namespaces: %s", l.Note)
	}
	hk, err := transport.KnownHosts(l.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := orchestrator.Connect(ctx, orchestrator.Config{Profile: p, Hosts: l.Hosts, Signers: []ssh.Signer{l.Signer}, HostKey: hk, LinkRate: p.Lab.LinkRate, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return l, s
}

func namespaces(t *testing.T) []string {
	t.Helper()
	nss, err := listNamespaces(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return nss
}

func linkExists(name string) bool {
	_, err := run(context.Background(), "ip", "link", "show", name)
	return err == nil
}

func verifyGuest(t *testing.T, s *orchestrator.Session, wantPages int64) {
	t.Helper()
	time.Sleep(500 * time.Millisecond) // let the restored guest run a little
	v, err := s.Verify(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if v.Errors != 0 || v.Pages != wantPages {
		t.Fatalf("verify: %d errors over %d pages (want 0 over %d): %v", v.Errors, v.Pages, wantPages, v.Faults)
	}
}

func TestIntegrationNetnsLabCheckpointRestore(t *testing.T) {
	requireNetns(t)
	p, err := profiles.Load("../profiles/lab-netns.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p.VM.MemoryBytes = 128 << 20 // the shipped shape, smaller, for speed
	p.VM.CacheBytes = 16 << 20
	l, s := startLab(t, p)
	plan := l.netns
	nss := namespaces(t)
	for _, h := range l.Hosts {
		ns := l.Namespace(h.Name)
		if !slices.Contains(nss, ns) {
			t.Errorf("namespace %s of %s missing while the lab runs (have %v)", ns, h.Name, nss)
		}
		if !strings.HasPrefix(h.Addr, fmt.Sprintf("10.254.%d.", plan.Subnet)) || h.PeerAddr != "" {
			t.Errorf("host %s at %q (peer %q), want an address on the lab bridge", h.Name, h.Addr, h.PeerAddr)
		}
	}
	if _, err := os.Stat(recordPath(plan.ID)); err != nil {
		t.Errorf("no record while running: %v", err)
	}
	ctx := context.Background()
	time.Sleep(time.Second)
	d, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
	if err != nil {
		t.Fatal(err)
	}
	if d.BytesOverNetwork != 0 {
		t.Errorf("dcres checkpoint moved %d bytes over the network", d.BytesOverNetwork)
	}
	tr, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "traditional"})
	if err != nil {
		t.Fatal(err)
	}
	if tr.BytesOverNetwork != 64<<20 {
		t.Errorf("traditional checkpoint moved %d bytes, want the sub-hosts' 64 MiB", tr.BytesOverNetwork)
	}
	if _, err := s.Restore(ctx, api.RestoreRequest{From: d.ID, Placement: "same"}); err != nil {
		t.Fatal(err)
	}
	verifyGuest(t, s, 128<<20/api.PageSize)

	s.Close()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	nss = namespaces(t)
	for _, h := range plan.Hosts {
		if slices.Contains(nss, h.NS) || linkExists(h.VethBr) {
			t.Errorf("host %s: namespace %s or link %s left after Close", h.Name, h.NS, h.VethBr)
		}
	}
	if linkExists(plan.Bridge) {
		t.Errorf("bridge %s left after Close", plan.Bridge)
	}
	if _, err := os.Stat(recordPath(plan.ID)); !os.IsNotExist(err) {
		t.Errorf("record %s left after Close (%v)", recordPath(plan.ID), err)
	}
}

func TestIntegrationNetnsShaping(t *testing.T) {
	requireNetns(t)
	const rate = 200_000_000
	p := netnsProfile(t, 2, "256MiB", "{main: 50%, sub1: 50%}", "200mbit")
	l, s := startLab(t, p)
	ctx := context.Background()
	d, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
	if err != nil {
		t.Fatal(err)
	}
	if d.BytesOverNetwork != 0 {
		t.Errorf("dcres checkpoint moved %d bytes over the network", d.BytesOverNetwork)
	}
	start := time.Now()
	tr, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "traditional"})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if tr.BytesOverNetwork != 128<<20 {
		t.Fatalf("traditional checkpoint moved %d bytes, want 128 MiB", tr.BytesOverNetwork)
	}
	floor := time.Duration(0.8 * float64(128<<20*8) / rate * float64(time.Second))
	t.Logf("traditional checkpoint of 128 MiB over a 200 Mbit/s link: %s (floor %s); dcres: %.2fs", took, floor, d.Seconds)
	if took < floor {
		t.Errorf("128 MiB crossed a 200 Mbit/s link in %s, faster than the shaping allows (%s)", took, floor)
	}

	h := l.netns.Hosts[1]
	qdiscs := func() string {
		a, _ := run(ctx, "tc", "qdisc", "show", "dev", h.VethBr)
		b, _ := run(ctx, "tc", "-n", h.NS, "qdisc", "show", "dev", h.VethNS)
		return string(a) + string(b)
	}
	if err := l.SetLinkRate("sub1", 50_000_000); err != nil {
		t.Fatal(err)
	}
	if q := qdiscs(); strings.Count(q, "tbf") != 2 || strings.Count(q, "rate 50Mbit") != 2 {
		t.Errorf("after SetLinkRate 50 Mbit/s both ends should have that tbf:\n%s", q)
	}
	if err := l.SetLinkRate("sub1", 0); err != nil {
		t.Fatal(err)
	}
	if q := qdiscs(); strings.Contains(q, "tbf") {
		t.Errorf("after SetLinkRate 0 a tbf is left:\n%s", q)
	}
	if err := l.SetLinkRate("sub1", 0); err != nil {
		t.Errorf("removing shaping twice: %v", err)
	}
}

func TestIntegrationNetnsCutLink(t *testing.T) {
	requireNetns(t)
	p := netnsProfile(t, 2, "64MiB", "{main: 50%, sub1: 50%}", "100mbit")
	l, s := startLab(t, p)
	ctx := context.Background()
	d, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
	if err != nil {
		t.Fatal(err)
	}
	// 32 MiB at 100 Mbit/s takes about 2.7 s: cut the link halfway.
	time.AfterFunc(time.Second, func() {
		if err := l.CutLink("sub1"); err != nil {
			t.Error(err)
		}
	})
	cctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	start := time.Now()
	_, err = s.Checkpoint(cctx, api.CheckpointRequest{Method: "traditional"})
	t.Logf("checkpoint over a cut link: %v after %s", err, time.Since(start))
	if err == nil {
		t.Fatalf("traditional checkpoint succeeded over a cut link")
	}
	if !strings.Contains(err.Error(), "sub1") {
		t.Errorf("error %q does not name the host whose link was cut", err)
	}
	if err := l.RestoreLink("sub1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Restore(ctx, api.RestoreRequest{From: d.ID, Placement: "same"}); err != nil {
		t.Fatal(err)
	}
	verifyGuest(t, s, 64<<20/api.PageSize)
}

func TestIntegrationNetnsStaleCleanup(t *testing.T) {
	requireNetns(t)
	ctx := context.Background()
	// A crashed lab: a record whose owner has exited, its namespaces and
	// bridge, and a process still inside one of the namespaces.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockRecords()
	if err != nil {
		t.Fatal(err)
	}
	crashed := newPlan(labID(t.TempDir(), 0), t.TempDir(), 0, []string{"main", "sub1"}, 10_000_000)
	links, err := listLinks(ctx)
	if err != nil {
		unlock()
		t.Fatal(err)
	}
	if crashed.Subnet, err = pickSubnet(crashed.ID, usedSubnets(links)); err == nil {
		crashed = newPlan(crashed.ID, crashed.Dir, crashed.Subnet, []string{"main", "sub1"}, 10_000_000)
		crashed.Owner = dead.Process.Pid
		if err = writeRecord(crashed); err == nil {
			err = setupNetns(ctx, crashed)
		}
	}
	// And a namespace of ours with no record at all.
	orphanNS := nsPrefix + "f0f0f0-main"
	if err == nil {
		_, err = run(ctx, "ip", "netns", "add", orphanNS)
	}
	unlock()
	t.Cleanup(func() { crashed.remove(); run(ctx, "ip", "netns", "del", orphanNS) })
	if err != nil {
		t.Fatal(err)
	}
	straggler := exec.Command("ip", "netns", "exec", crashed.Hosts[1].NS, "sleep", "300")
	if err := straggler.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { straggler.Wait(); close(waited) }()
	t.Cleanup(func() { straggler.Process.Kill(); <-waited })

	var mu sync.Mutex
	var logs []string
	logf := func(f string, a ...any) {
		mu.Lock()
		logs = append(logs, fmt.Sprintf(f, a...))
		mu.Unlock()
		t.Logf(f, a...)
	}
	p := netnsProfile(t, 2, "16MiB", "{main: 50%, sub1: 50%}", "0")
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	l, err := Start(sctx, p, Options{Dir: t.TempDir(), Binary: dcresBinary(t), Logf: logf})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	nss := namespaces(t)
	for _, h := range crashed.Hosts {
		if slices.Contains(nss, h.NS) || linkExists(h.VethBr) {
			t.Errorf("stale namespace %s or link %s survived a new lab's start", h.NS, h.VethBr)
		}
	}
	if slices.Contains(nss, orphanNS) {
		t.Errorf("unrecorded namespace %s survived a new lab's start", orphanNS)
	}
	if linkExists(crashed.Bridge) {
		t.Errorf("stale bridge %s survived", crashed.Bridge)
	}
	if _, err := os.Stat(recordPath(crashed.ID)); !os.IsNotExist(err) {
		t.Errorf("stale record survived (%v)", err)
	}
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Errorf("the process left in a stale namespace still runs")
	}
	mu.Lock()
	joined := strings.Join(logs, "\n")
	mu.Unlock()
	for _, want := range []string{"removed stale netns lab " + crashed.ID, fmt.Sprintf("owner pid %d is gone", dead.Process.Pid), "removed stale netns lab f0f0f0 (no record)"} {
		if !strings.Contains(joined, want) {
			t.Errorf("log does not say %q:\n%s", want, joined)
		}
	}
	if !l.Netns || l.Namespace("main") == "" {
		t.Errorf("the new lab is not a netns lab: %s", l.Note)
	}

	if err := l.Kill("sub1"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.agents[1].done:
	case <-time.After(5 * time.Second):
		t.Errorf("agent sub1 still runs after Kill")
	}
}
