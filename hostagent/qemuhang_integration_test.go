package hostagent

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"dcres/agentrpc"
	"dcres/api"
	"dcres/internal/testreq"
)

// requireQEMU skips a test that boots the verifying guest in QEMU unless
// DCRES_REQUIRE_QEMU=1 makes a missing piece a failure.
func requireQEMU(t *testing.T) {
	t.Helper()
	testreq.QEMU(t)
}

// logLines collects an agent's log lines.
type logLines struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.t.Log(msg)
	l.mu.Lock()
	l.lines = append(l.lines, msg)
	l.mu.Unlock()
}

// waitFor waits for a line with want logged from line from on, and returns
// its index (-1 on timeout).
func (l *logLines) waitFor(from int, want string, within time.Duration) int {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for i := from; i < len(l.lines); i++ {
			if strings.Contains(l.lines[i], want) {
				l.mu.Unlock()
				return i
			}
		}
		l.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	return -1
}

func (l *logLines) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// TestIntegrationQEMUHangReported: a guest that goes silent (its QEMU
// stopped with SIGSTOP) is reported as hung after hangAfter, not before,
// and its heartbeats are reported back once QEMU runs again.
func TestIntegrationQEMUHangReported(t *testing.T) {
	requireQEMU(t)
	saved := hangAfter
	hangAfter = 5 * time.Second
	t.Cleanup(func() { hangAfter = saved })

	logs := &logLines{t: t}
	a := &Agent{cfg: Config{Name: "main", DataDir: t.TempDir(), Lease: 30 * time.Second, Logf: logs.logf}, vms: map[string]*vm{}}
	const mem = 128 << 20
	npages := uint64(mem / api.PageSize)
	v, err := a.newVM(agentrpc.SetupParams{VM: "vm1", Incarnation: 1, Main: "main", Driver: "qemu", MemoryBytes: mem,
		Hosts: []string{"main"}, Locations: []api.Range{{Start: 0, Count: npages, Host: "main"}}, Nodes: []uint64{npages},
		Workload: agentrpc.Workload{Pattern: "uniform", DirtyRate: 1 << 20, Seed: 3}})
	if err != nil {
		t.Fatal(err)
	}
	g := v.guest.(*qemuGuest)
	var pid int
	t.Cleanup(func() {
		if pid > 0 {
			syscall.Kill(pid, syscall.SIGCONT)
		}
		v.close()
		for _, n := range g.nodes {
			if _, err := os.Stat(n.shm); err == nil {
				t.Errorf("%s left behind", n.shm)
				os.Remove(n.shm)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := v.run(ctx, ""); err != nil {
		t.Fatal(err)
	}
	qm, err := g.vm()
	if err != nil {
		t.Fatal(err)
	}
	pid = qm.Pid()
	// Booted: heartbeats arrive.
	deadline := time.Now().Add(45 * time.Second)
	for g.status().PagesWritten == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the guest sent no heartbeat with pages written within 45 s; console: %s", strings.Join(qm.SerialTail(5), " | "))
		}
		time.Sleep(100 * time.Millisecond)
	}
	from := logs.len()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	i := logs.waitFor(from, "sent no heartbeat", hangAfter+10*time.Second)
	silent := time.Since(stopped)
	if i < 0 {
		t.Fatalf("QEMU stopped for %s: no hang reported (hangAfter %s)", silent.Round(time.Millisecond), hangAfter)
	}
	// The last heartbeat came up to a second before the stop; the watch
	// ticks once a second.
	if silent < hangAfter-time.Second || silent > hangAfter+3*time.Second {
		t.Errorf("hang reported %s after QEMU stopped, want about %s", silent.Round(time.Millisecond), hangAfter)
	}
	t.Logf("QEMU stopped: hang reported after %s (hangAfter %s)", silent.Round(time.Millisecond), hangAfter)
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if logs.waitFor(i, "heartbeats are back", 15*time.Second) < 0 {
		t.Fatal("QEMU running again: its heartbeats are not reported back")
	}
	// One report per silence.
	n := 0
	for _, l := range logs.lines[from:] {
		if strings.Contains(l, "sent no heartbeat") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d hang reports for one silence", n)
	}
}
