package fusemem

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Touching a FUSE-backed mmap from the process that serves the mount
// deadlocks a Go program: a page fault is not a syscall, so the faulting
// thread cannot reach a GC safe point while the server goroutines wait for
// the stop-the-world. So, as with QEMU in production, the mapping lives in
// another process: this test binary re-executed as a "guest" that obeys
// line commands on stdin.

func TestMain(m *testing.M) {
	switch os.Getenv("FUSEMEM_CHILD") {
	case "guest":
		runGuest(os.Stdin, os.Stdout)
		os.Exit(0)
	case "server":
		runServerChild()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// guest is the parent's handle on a child process that maps one node.
type guest struct {
	t   testing.TB
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startGuest(t testing.TB, path string, size int64) *guest {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "FUSEMEM_CHILD=guest")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &guest{t: t, cmd: cmd, in: in, out: bufio.NewReader(outp)}
	// Registered after the mount's cleanup, so it runs first: the guest
	// exits (unmapping) before the mount goes, as QEMU exits before its agent.
	t.Cleanup(g.stop)
	g.do("map %s %d", path, size)
	return g
}

// do sends one command and returns the fields of its "ok" reply.
func (g *guest) do(format string, args ...any) []string {
	g.t.Helper()
	line := fmt.Sprintf(format, args...)
	if _, err := fmt.Fprintln(g.in, line); err != nil {
		g.t.Fatalf("guest %q: %v", line, err)
	}
	reply, err := g.out.ReadString('\n')
	if err != nil {
		g.t.Fatalf("guest %q: no reply: %v", line, err)
	}
	f := strings.Fields(reply)
	if len(f) == 0 || f[0] != "ok" {
		g.t.Fatalf("guest %q: %s", line, strings.TrimSpace(reply))
	}
	return f[1:]
}

func (g *guest) stop() {
	if g.cmd == nil {
		return
	}
	fmt.Fprintln(g.in, "quit")
	g.in.Close()
	done := make(chan struct{})
	go func() { g.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		g.t.Errorf("guest did not exit; killing it")
		g.cmd.Process.Kill()
		<-done
	}
	g.cmd = nil
}

// runGuest is the child's side: map, then obey commands, one reply a line.
func runGuest(r io.Reader, w io.Writer) {
	var mem []byte
	sc := bufio.NewScanner(r)
	page := func(s string) []byte {
		pg, _ := strconv.ParseInt(s, 10, 64)
		return mem[pg*PageSize : (pg+1)*PageSize]
	}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		reply := "ok"
		switch f[0] {
		case "quit":
			return
		case "map":
			size, _ := strconv.ParseInt(f[2], 10, 64)
			fd, err := unix.Open(f[1], unix.O_RDWR, 0)
			if err == nil {
				mem, err = unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
				unix.Close(fd)
			}
			if err != nil {
				reply = "error " + err.Error()
			}
		case "check": // check PG TAG: page holds fillPattern(TAG)
			pg, _ := strconv.ParseInt(f[1], 10, 64)
			tag, _ := strconv.Atoi(f[2])
			want := make([]byte, PageSize)
			fillPattern(want, pg*PageSize, byte(tag))
			if !bytes.Equal(page(f[1]), want) {
				reply = "bad page " + f[1]
			}
		case "write": // write PG TAG
			pg, _ := strconv.ParseInt(f[1], 10, 64)
			tag, _ := strconv.Atoi(f[2])
			fillPattern(page(f[1]), pg*PageSize, byte(tag))
		case "seq": // read one byte of every page, in order: "ok NANOS"
			start := time.Now()
			var sum byte
			for off := 0; off < len(mem); off += PageSize {
				sum += mem[off]
			}
			reply = fmt.Sprintf("ok %d %d", time.Since(start).Nanoseconds(), sum)
		case "rand": // rand N: N first touches of random pages: "ok P50 P99" (ns)
			n, _ := strconv.Atoi(f[1])
			unix.Madvise(mem, unix.MADV_RANDOM) // no read-around: one page per fault
			pages := rand.Perm(len(mem) / PageSize)[:n]
			lat := make([]time.Duration, n)
			var sum byte
			for i, pg := range pages {
				start := time.Now()
				sum += mem[pg*PageSize]
				lat[i] = time.Since(start)
			}
			slices.Sort(lat)
			reply = fmt.Sprintf("ok %d %d %d", lat[n/2].Nanoseconds(), lat[n*99/100].Nanoseconds(), sum)
		default:
			reply = "error unknown command " + f[0]
		}
		fmt.Fprintln(w, reply)
	}
}

// runServerChild mounts one node on FUSEMEM_DIR, says "ready", and serves
// until killed: the agent that CleanStale cleans up after.
func runServerChild() {
	dir := os.Getenv("FUSEMEM_DIR")
	m, err := New(context.Background(), dir, []NodeSpec{{Name: "n", Size: PageSize, Backend: newMemBackend(PageSize)}}, Options{})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, unix.SIGTERM)
	<-sig
	m.Close()
}
