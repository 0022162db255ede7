package faults

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"dcres/api"
	"dcres/internal/testreq"
	"dcres/orchestrator"
	"dcres/profiles"
)

// QEMU rows: the fault-qemu lab (three local agents, a real QEMU guest
// whose nodes 1 and 2 are FUSE files on main served from sub1 and sub2).
// They need QEMU, the verifying guest (`make guest`) and root (FUSE): a
// skip without them, a failure under DCRES_REQUIRE_QEMU=1.

func requireQEMU(t *testing.T) {
	t.Helper()
	integration(t)
	testreq.SplitQEMU(t)
}

func qemuProfile(t *testing.T) *profiles.Profile {
	t.Helper()
	p, err := profiles.Load("testdata/fault-qemu.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// earlierQEMU is earlier for the QEMU lab: a copy of a lab dir holding one
// committed checkpoint of the running QEMU guest, made once per binary.
var (
	qbaseOnce sync.Once
	qbase     string
	qbaseID   string
	qbaseErr  error
)

func earlierQEMU(t *testing.T) (dir, id string) {
	t.Helper()
	qbaseOnce.Do(func() {
		qbase, qbaseErr = os.MkdirTemp("", "dcres-faults-qbase-")
		if qbaseErr != nil {
			return
		}
		f := startLabWith(t, qemuProfile(t), qbase, "", 0)
		defer f.close()
		ctx, cancel := ctxT(2 * time.Minute)
		defer cancel()
		if qbaseErr = f.sess.Start(ctx); qbaseErr != nil {
			return
		}
		time.Sleep(4 * time.Second) // the guest boots and writes its memory
		res, err := f.sess.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
		if err != nil {
			qbaseErr = err
			return
		}
		qbaseID = res.ID
	})
	if qbaseErr != nil {
		t.Fatalf("making the earlier QEMU checkpoint: %v", qbaseErr)
	}
	dir = t.TempDir()
	if out, err := exec.Command("cp", "-a", qbase+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("copying the base QEMU lab: %v %s", err, out)
	}
	return dir, qbaseID
}

// qemuOf finds the QEMU process whose parent is pid (the main agent).
func qemuOf(pid int) (int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.Contains(s[:i], "qemu-system") {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			return child, nil
		}
	}
	return 0, fmt.Errorf("no QEMU process under the agent (pid %d)", pid)
}

// watchGuest records, from a session's events, main's log lines and the
// last guest state reported.
type guestWatch struct {
	mu    sync.Mutex
	logs  []string
	state string
	// pagingIn is main's last rate of pages faulted in from the homes.
	pagingIn float64
	stop     func()
	done     chan struct{}
}

func watchGuest(s *orchestrator.Session) *guestWatch {
	ch, unsub := s.Subscribe()
	w := &guestWatch{stop: unsub, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for ev := range ch {
			w.mu.Lock()
			switch {
			case ev.Type == api.EvGuest && ev.Guest != nil:
				w.state = ev.Guest.State
			case ev.Type == api.EvLog && ev.Host == "main":
				w.logs = append(w.logs, ev.Message)
			}
			for _, h := range ev.Hosts {
				if h.Host == "main" {
					w.pagingIn = h.PagesIn
				}
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *guestWatch) close() { w.stop(); <-w.done }

// line returns the first log line containing want ("" if none).
func (w *guestWatch) line(want string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.logs {
		if strings.Contains(l, want) {
			return l
		}
	}
	return ""
}

func (w *guestWatch) guestState() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state
}

// waitLine waits for a log line containing want.
func (w *guestWatch) waitLine(want string, within time.Duration) string {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if l := w.line(want); l != "" {
			return l
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ""
}

// leftBehind lists what the lab's agents left on the machine: RAM files in
// /dev/shm (named by a hash of each agent's data directory) and mounts
// under the lab dir. It removes the files, so that a failing row does not
// leave them for the next.
func leftBehind(dir string) []string {
	var out []string
	ents, _ := os.ReadDir("/dev/shm")
	for _, e := range ents {
		for _, h := range hostNames() {
			sum := sha256.Sum256([]byte(hostDir(dir, h)))
			if strings.HasPrefix(e.Name(), "dcres-"+hex.EncodeToString(sum[:4])+"-") {
				out = append(out, "/dev/shm/"+e.Name())
				os.Remove(filepath.Join("/dev/shm", e.Name()))
			}
		}
	}
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, "mount "+f[4])
			syscall.Unmount(f[4], syscall.MNT_DETACH)
		}
	}
	return out
}

// qemuRow finishes a QEMU row: what the lab left behind, then, in a clean
// lab over the same directory, what is on disk and that the earlier
// checkpoint verifies and restores (a new QEMU, verified page by page).
func qemuRow(t *testing.T, row Row, dir, id string, problems []string) {
	if left := leftBehind(dir); len(left) > 0 {
		problems = append(problems, "left behind by the lab: "+strings.Join(left, ", "))
	}
	onDisk, earlierSum, problem := checkEarlierWith(t, qemuProfile(t), dir, id, "")
	if left := leftBehind(dir); len(left) > 0 {
		problems = append(problems, "left behind by the restore's lab: "+strings.Join(left, ", "))
	}
	row.OnDisk, row.Earlier = onDisk, earlierSum
	if problem != "" {
		problems = append(problems, problem)
	}
	row.Problem = strings.Join(problems, "; ")
	row.OK = row.Problem == ""
	record(t, row)
}

// TestIntegrationFaultQEMUKilledDuringSave: QEMU is killed (SIGKILL) as
// soon as the main host paused it for a checkpoint, while the hosts save.
// The checkpoint must fail with an error that says QEMU is gone, within
// the call deadline; the agent must report the guest as stopped (not
// running, not paused); the next checkpoint must fail at once with the same
// reason.
func TestIntegrationFaultQEMUKilledDuringSave(t *testing.T) {
	requireQEMU(t)
	row := Row{Fault: "SIGKILL QEMU", Phase: "ckpt.save (killed when main's pause returned)"}
	var problems []string
	dir, id := earlierQEMU(t)
	f := startLabWith(t, qemuProfile(t), dir, "", 0)
	ctx, cancel := ctxT(2 * time.Minute)
	defer cancel()
	if err := f.sess.Start(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	qpid, err := qemuOf(f.lab.Agent("main").Pid)
	if err != nil {
		t.Fatal(err)
	}
	w := watchGuest(f.sess)
	defer w.close()
	ch, unsub := f.sess.Subscribe()
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for ev := range ch {
			if ev.Type == api.EvLog && ev.Op == "checkpoint" && strings.Contains(ev.Message, "pause on main done") {
				syscall.Kill(qpid, syscall.SIGKILL)
				return
			}
		}
	}()
	start := time.Now()
	_, err = f.sess.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
	took := time.Since(start)
	unsub()
	<-killed
	if err == nil {
		problems = append(problems, "the checkpoint succeeded although QEMU was killed during its save")
		row.Sees = "(no error)"
	} else {
		t.Logf("the checkpoint failed after %s: %v", secs(took), err)
		row.Sees = fmt.Sprintf("fails in %s: %s", secs(took), firstFailure(err))
		if !strings.Contains(err.Error(), "on main") || !strings.Contains(err.Error(), "QEMU exited") {
			problems = append(problems, "the error does not say that main's QEMU exited")
		}
		if took > 30*time.Second {
			problems = append(problems, "the checkpoint took "+secs(took)+" to fail")
		}
	}
	time.Sleep(3 * time.Second) // a few guest reports
	if st := w.guestState(); st != api.StateStopped {
		problems = append(problems, "the guest is reported "+st+", not stopped, after QEMU died")
	} else {
		row.Sees += "; guest reported stopped"
	}
	start = time.Now()
	_, err = f.sess.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
	if err == nil {
		problems = append(problems, "a checkpoint of the dead QEMU succeeded")
	} else {
		t.Logf("the next checkpoint: %v", err)
		row.Sees += "; the next checkpoint fails in " + secs(time.Since(start)) + " with the same reason"
		if !strings.Contains(err.Error(), "QEMU exited") {
			problems = append(problems, "the next checkpoint's error does not say QEMU exited: "+firstLine(err))
		}
	}
	f.close()
	qemuRow(t, row, dir, id, problems)
}

// TestIntegrationFaultQEMUHomeKilled: sub1's agent, the home of node 1's
// pages, is killed (SIGKILL) while the guest pages that node in from it
// (right after the guest started, while it first writes its memory). The
// guest cannot run on without those pages: the main agent must say why and
// end QEMU (never leave it blocked on the FUSE mount), report the guest
// stopped, and a checkpoint must fail at once naming the cause.
func TestIntegrationFaultQEMUHomeKilled(t *testing.T) {
	requireQEMU(t)
	row := Row{Fault: "SIGKILL agent sub1 (home of a FUSE node)", Phase: "remote paging (QEMU guest paging its FUSE nodes in)"}
	var problems []string
	dir, id := earlierQEMU(t)
	f := startLabWith(t, qemuProfile(t), dir, "", 0)
	ctx, cancel := ctxT(2 * time.Minute)
	defer cancel()
	w := watchGuest(f.sess)
	defer w.close()
	if err := f.sess.Start(ctx); err != nil {
		t.Fatal(err)
	}
	qpid, err := qemuOf(f.lab.Agent("main").Pid)
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the guest to page in from its homes, then kill sub1.
	statDeadline := time.Now().Add(30 * time.Second)
	for {
		w.mu.Lock()
		in := w.pagingIn
		w.mu.Unlock()
		if in > 0 {
			break
		}
		if time.Now().After(statDeadline) {
			t.Fatal("the guest never paged in from its homes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := f.lab.Kill("sub1"); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	gone := false
	for time.Since(killed) < 40*time.Second {
		if err := syscall.Kill(qpid, 0); err != nil {
			gone = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	endedAfter := time.Since(killed)
	reason := w.waitLine("the agent stopped QEMU", 5*time.Second)
	if !gone {
		problems = append(problems, "QEMU still runs 40 s after its page home died")
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", qpid))
		for _, task := range tasks {
			st, _ := os.ReadFile(task + "/stat")
			wchan, _ := os.ReadFile(task + "/wchan")
			stack, _ := os.ReadFile(task + "/stack")
			t.Logf("QEMU task %s: %.80s wchan %s stack %s", filepath.Base(task), st, wchan, strings.ReplaceAll(string(stack), "\n", " | "))
		}
	}
	if reason == "" {
		problems = append(problems, "the main agent did not say why the guest stopped")
		row.Sees = "main agent: " + w.line("remote memory")
	} else {
		t.Logf("main agent: %s", reason)
		what, _, _ := strings.Cut(reason[strings.Index(reason, "the agent stopped QEMU: ")+len("the agent stopped QEMU: "):], " failed")
		row.Sees = fmt.Sprintf("main agent logs %q failed (%s) and kills QEMU: gone %s after sub1", what, lastCause(reason), secs(endedAfter))
	}
	time.Sleep(3 * time.Second)
	if st := w.guestState(); st != api.StateStopped {
		problems = append(problems, "the guest is reported "+st+", not stopped")
	} else {
		row.Sees += "; guest reported stopped"
	}
	start := time.Now()
	if _, err := f.sess.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"}); err == nil {
		problems = append(problems, "a checkpoint succeeded with sub1 dead and QEMU gone")
	} else {
		t.Logf("checkpoint after the loss: %v", err)
		row.Sees += "; a checkpoint fails in " + secs(time.Since(start)) + " with the reason"
		if !strings.Contains(err.Error(), "the agent stopped QEMU") {
			problems = append(problems, "the checkpoint's error does not give the reason: "+firstLine(err))
		}
	}
	f.close()
	if len(problems) > 0 {
		b, _ := os.ReadFile(filepath.Join(hostDir(dir, "main"), "agent.log"))
		var keep []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.Contains(l, "connection refused") {
				keep = append(keep, l)
			}
		}
		t.Logf("main agent log, without the refused connections:\n%s", strings.Join(keep, "\n"))
	}
	qemuRow(t, row, dir, id, problems)
}

// firstFailure is the first failed step of a checkpoint error, without the
// QMP socket's detail.
func firstFailure(err error) string {
	s := firstLine(err)
	if i := strings.Index(s, "): "); i >= 0 && strings.HasPrefix(s, "checkpoint ") {
		s = s[i+3:]
	}
	s, _, _ = strings.Cut(s, ";")
	if i := strings.Index(s, " (qmp "); i >= 0 {
		s = s[:i]
	}
	return s
}

// lastCause is the innermost cause of a log line ("connection refused").
func lastCause(s string) string {
	s, _, _ = strings.Cut(s, "):")
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}
