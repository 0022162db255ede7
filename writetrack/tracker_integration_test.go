package writetrack

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"dcres/internal/testreq"
)

// The tests track a child process: this test binary re-run with
// WRITETRACK_CHILD set maps a /dev/shm file and writes pages on command.

const childEnv = "WRITETRACK_CHILD"

func TestMain(m *testing.M) {
	MaybeHelper()
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(child(spec))
	}
	os.Exit(m.Run())
}

// child maps the file and obeys stdin: "w N..." writes pages N, "run SEED
// MS" writes random pages for MS milliseconds, "q" exits; each command is
// answered with "ok".
func child(spec string) int {
	path, sz, _ := strings.Cut(spec, ":")
	size, _ := strconv.Atoi(sz)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch f[0] {
		case "w":
			for _, s := range f[1:] {
				n, _ := strconv.Atoi(s)
				mem[n*PageSize+n%PageSize]++
			}
		case "run":
			seed, _ := strconv.Atoi(f[1])
			ms, _ := strconv.Atoi(f[2])
			r := rand.New(rand.NewPCG(uint64(seed), 1))
			pages := size / PageSize
			for end := time.Now().Add(time.Duration(ms) * time.Millisecond); time.Now().Before(end); {
				for range 256 {
					// Mostly a hot tenth of the pages, some anywhere.
					n := r.IntN(pages / 10)
					if r.IntN(4) == 0 {
						n = r.IntN(pages)
					}
					mem[n*PageSize+r.IntN(PageSize)] = byte(r.Uint32())
				}
				time.Sleep(50 * time.Microsecond)
			}
		case "q":
			fmt.Println("ok")
			return 0
		}
		fmt.Println("ok")
	}
	return 0
}

type childProc struct {
	cmd    *exec.Cmd
	exited chan error // the child's exit, waited for all along (as the agent waits for QEMU)
	in     *bufio.Writer
	out    *bufio.Scanner
	path   string
	size   int
}

func startChild(t *testing.T, size int) *childProc {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test")
	}
	path := filepath.Join("/dev/shm", fmt.Sprintf("writetrack-test-%d-%d", os.Getpid(), rand.Uint32()))
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.Remove(path) })
	if err := os.Truncate(path, int64(size)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path+":"+strconv.Itoa(size))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childProc{cmd: cmd, exited: make(chan error, 1), in: bufio.NewWriter(stdin), out: bufio.NewScanner(stdout), path: path, size: size}
	// A parent waiting for its child must not take the tracer's stops.
	go func() { c.exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill(); <-c.exited })
	if !c.out.Scan() || c.out.Text() != "ready" {
		t.Fatalf("child did not start: %q", c.out.Text())
	}
	return c
}

func (c *childProc) do(t *testing.T, cmd string) {
	t.Helper()
	fmt.Fprintln(c.in, cmd)
	c.in.Flush()
	if !c.out.Scan() || c.out.Text() != "ok" {
		t.Fatalf("child: %q answered %q", cmd, c.out.Text())
	}
}

func attach(t *testing.T, c *childProc) *Tracker {
	t.Helper()
	tr, err := Attach(c.cmd.Process.Pid, c.path, int64(c.size))
	if err != nil {
		testreq.Need(t, fmt.Errorf("write tracking does not work here: %w", err), testreq.EnvQEMU)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func scanned(t *testing.T, tr *Tracker) []uint64 {
	t.Helper()
	var out []uint64
	if err := tr.Scan(func(first, count uint64) {
		for i := range count {
			out = append(out, first+i)
		}
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestIntegrationTrackerReportsExactlyTheWrittenPages(t *testing.T) {
	c := startChild(t, 64<<20)
	// Some pages present in the child's page table before tracking starts,
	// most never touched: both kinds must be protected.
	c.do(t, "w 1 2 3")
	tr := attach(t, c)
	if got := scanned(t, tr); len(got) != 0 {
		t.Fatalf("first scan after attach: %d pages written, want 0: %v", len(got), got)
	}
	c.do(t, "w 3 4 5 100 2000 16383")
	if n, err := tr.Pending(); err != nil || n != 6 {
		t.Fatalf("pending: %d %v, want 6", n, err)
	}
	if got, want := fmt.Sprint(scanned(t, tr)), "[3 4 5 100 2000 16383]"; got != want {
		t.Fatalf("scan: %s, want %s", got, want)
	}
	if got := scanned(t, tr); len(got) != 0 {
		t.Fatalf("scan with no writes: %v", got)
	}
	c.do(t, "w 5 5 7")
	if got, want := fmt.Sprint(scanned(t, tr)), "[5 7]"; got != want {
		t.Fatalf("scan: %s, want %s", got, want)
	}
	// The child kept running under tracking and exits normally.
	c.do(t, "q")
	if err := <-c.exited; err != nil {
		t.Fatalf("child after tracking: %v", err)
	}
	c.exited <- nil
}

// A pre-copy in miniature: copy every page, then, round after round while
// the child writes, copy again what the scans report; after the child stops,
// one last scan and copy must give exactly the file. Any write the tracker
// missed shows up as a differing page.
func TestIntegrationTrackerPreCopyMissesNothing(t *testing.T) {
	const size = 32 << 20
	c := startChild(t, size)
	tr := attach(t, c)
	f, err := os.Open(c.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	copyPages := func(dst []byte, first, count uint64) {
		off := int64(first * PageSize)
		if _, err := f.ReadAt(dst[off:off+int64(count*PageSize)], off); err != nil {
			t.Fatal(err)
		}
	}
	saved := make([]byte, size)
	scanned(t, tr) // the clean start: everything is copied next
	fmt.Fprintln(c.in, "run 7 1000")
	c.in.Flush()
	stopped := make(chan bool)
	go func() { stopped <- c.out.Scan() && c.out.Text() == "ok" }()
	copyPages(saved, 0, size/PageSize)
	rounds, pages := 0, 0
	for running := true; running; rounds++ {
		select {
		case ok := <-stopped:
			if !ok {
				t.Fatalf("child: %q", c.out.Text())
			}
			running = false
		case <-time.After(20 * time.Millisecond):
		}
		if err := tr.Scan(func(first, count uint64) { copyPages(saved, first, count); pages += int(count) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Scan(func(first, count uint64) { copyPages(saved, first, count) }); err != nil {
		t.Fatal(err)
	}
	now := make([]byte, size)
	copyPages(now, 0, size/PageSize)
	bad := 0
	for i := 0; i < size; i += PageSize {
		if !bytes.Equal(saved[i:i+PageSize], now[i:i+PageSize]) {
			bad++
		}
	}
	t.Logf("%d rounds, %d pages copied again", rounds, pages)
	if pages == 0 {
		t.Fatal("no writes were reported while the child wrote")
	}
	if bad != 0 {
		t.Fatalf("%d pages differ from the file after the last scan: writes were missed", bad)
	}
}
