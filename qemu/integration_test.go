package qemu

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dcres/guest/image"
	"dcres/guest/image/pattern"
	"dcres/internal/testreq"
)

// Integration tests run real QEMU (TCG) with the verifying guest. They skip
// when QEMU or the guest image is missing, unless DCRES_REQUIRE_QEMU=1 (CI),
// which turns a missing piece into a failure. -short always skips them.

const (
	nodeSize   = 128 << 20 // two nodes: a 256 MiB guest
	bootWait   = 60 * time.Second
	testAppend = "quiet panic=-1"
)

func requireQEMU(t *testing.T) (kernel, initrd string) {
	t.Helper()
	return testreq.QEMU(t)
}

// shmDir is a fresh directory for RAM files on tmpfs, removed at cleanup.
func shmDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("/dev/shm", "dcres-qemu-test-")
	if err != nil {
		t.Logf("no /dev/shm (%v); RAM files go to the test's temp dir", err)
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func nodesIn(dir, prefix string) []Node {
	return []Node{
		{SizeBytes: nodeSize, MemPath: filepath.Join(dir, prefix+"0")},
		{SizeBytes: nodeSize, MemPath: filepath.Join(dir, prefix+"1")},
	}
}

func startVM(t *testing.T, cfg Config) *VM {
	t.Helper()
	k, i := requireQEMU(t)
	cfg.Kernel, cfg.Initrd = k, i
	if cfg.Append == "" {
		cfg.Append = testAppend + " " + image.Settings{MemPercent: 60, DirtyRate: 4 << 20, Seed: 7}.KernelArgs()
	}
	cfg.Dir = t.TempDir()
	cfg.Logf = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vm, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := vm.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() {
			for _, l := range vm.SerialTail(30) {
				t.Logf("serial: %s", l)
			}
		}
	})
	return vm
}

// await waits for the next console line that matches.
func await(t *testing.T, vm *VM, what string, timeout time.Duration, match func(Line) bool) Line {
	t.Helper()
	ch, cancel := vm.Expect(match)
	defer cancel()
	select {
	case l := <-ch:
		return l
	case <-vm.Exited():
		t.Fatalf("QEMU exited while waiting for %s: %v", what, vm.Wait())
	case <-time.After(timeout):
		t.Fatalf("no %s within %v", what, timeout)
	}
	return Line{}
}

func isKind(k string) func(Line) bool { return func(l Line) bool { return l.Kind == k } }

// cleanBeats waits for n heartbeats, each with errors=0 and a sequence
// number above after; it returns the last.
func cleanBeats(t *testing.T, vm *VM, n int, after int64) Line {
	t.Helper()
	var l Line
	for i := 0; i < n; i++ {
		l = await(t, vm, "heartbeat", 20*time.Second, isKind("hb"))
		if l.Fields["errors"] != 0 {
			t.Fatalf("guest reports check errors: %s", l.Raw)
		}
		if l.Fields["seq"] <= after {
			t.Fatalf("heartbeat seq %d not after %d: %s", l.Fields["seq"], after, l.Raw)
		}
		after = l.Fields["seq"]
	}
	return l
}

// bootGuest starts a guest and waits until it is allocated and beating.
func bootGuest(t *testing.T, nodes []Node) (*VM, Line, time.Duration) {
	t.Helper()
	start := time.Now()
	vm := startVM(t, Config{Nodes: nodes, CPUs: 1})
	ready := await(t, vm, "ready line", bootWait, isKind("ready"))
	boot := time.Since(start)
	if ready.Fields["pages"] < 1000 {
		t.Fatalf("guest allocated only %d pages: %s", ready.Fields["pages"], ready.Raw)
	}
	return vm, ready, boot
}

func TestIntegrationBootTwoNodes(t *testing.T) {
	dir := shmDir(t)
	vm, ready, boot := bootGuest(t, nodesIn(dir, "ram"))
	t.Logf("MEASURE boot to ready: %v (%s)", boot, ready.Raw)
	if got := vm.NodeFSTypes(); len(got) != 2 {
		t.Fatalf("NodeFSTypes = %v", got)
	}
	cleanBeats(t, vm, 2, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if st, err := vm.Status(ctx); err != nil || st != "running" {
		t.Fatalf("Status = %q, %v; want running", st, err)
	}
	// Page sampling looks at a few hundred pages: at 4 MiB/s a one-second
	// sample can see none dirty. Longer samples, a few tries.
	var rate float64
	for try := 0; try < 3 && rate <= 0; try++ {
		r, err := vm.CalcDirtyRate(ctx, 2)
		if err != nil {
			t.Fatalf("CalcDirtyRate: %v", err)
		}
		rate = r
	}
	t.Logf("MEASURE dirty rate (guest asked for 4 MiB/s): %.1f MiB/s", rate/(1<<20))
	if rate <= 0 {
		t.Fatalf("dirty rate %v of a guest writing 4 MiB/s, in three samples", rate)
	}
}

// copyRAM copies a RAM file with pread/pwrite, leaving zero chunks as holes.
func copyRAM(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	fi, err := in.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Truncate(fi.Size()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	zero := make([]byte, len(buf))
	for off := int64(0); off < fi.Size(); off += int64(len(buf)) {
		n, err := in.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if bytes.Equal(buf[:n], zero[:n]) {
			continue
		}
		if _, err := out.WriteAt(buf[:n], off); err != nil {
			t.Fatal(err)
		}
	}
}

// corruptGuestPage flips one byte in the middle of the first page of file
// that the guest workload wrote, and returns that page's index.
func corruptGuestPage(t *testing.T, file string) uint64 {
	t.Helper()
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	p := make([]byte, pattern.PageSize)
	for off := int64(0); off < fi.Size(); off += pattern.PageSize {
		if _, err := f.ReadAt(p, off); err != nil {
			t.Fatal(err)
		}
		idx, _, _, ok := pattern.Header(p)
		if !ok {
			continue
		}
		b := []byte{p[2048] ^ 0x40}
		if _, err := f.WriteAt(b, off+2048); err != nil {
			t.Fatal(err)
		}
		return idx
	}
	t.Fatalf("no guest page found in %s", file)
	return 0
}

func TestIntegrationDeviceStateCheckpointRestore(t *testing.T) {
	dir := shmDir(t)
	src, ready, _ := bootGuest(t, nodesIn(dir, "ram"))
	last := cleanBeats(t, src, 3, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Checkpoint: pause, copy RAM (twice: a good copy and one to damage),
	// save device state.
	pause := time.Now()
	if err := src.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for i, n := range src.cfg.Nodes {
		copyRAM(t, n.MemPath, filepath.Join(dir, fmt.Sprintf("good%d", i)))
	}
	copied := time.Since(pause)
	devState := filepath.Join(t.TempDir(), "device.state")
	saveStart := time.Now()
	if err := src.SaveDeviceState(ctx, devState); err != nil {
		t.Fatal(err)
	}
	saveTime := time.Since(saveStart)
	fi, _ := os.Stat(devState)
	t.Logf("MEASURE stop+copy of 256 MiB RAM: %v; device-state save: %v (%d bytes)", copied, saveTime, fi.Size())
	if st, _ := src.Status(ctx); st != "postmigrate" {
		t.Errorf("source state after save = %q, want postmigrate", st)
	}
	for i, n := range src.cfg.Nodes {
		copyRAM(t, n.MemPath, filepath.Join(dir, fmt.Sprintf("bad%d", i)))
	}
	src.Close()

	t.Run("restore", func(t *testing.T) {
		restStart := time.Now()
		dst := startVM(t, Config{Nodes: nodesIn(dir, "good"), CPUs: 1, Incoming: true})
		if err := dst.LoadDeviceState(ctx, devState); err != nil {
			t.Fatal(err)
		}
		if err := dst.Cont(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("MEASURE restore (QEMU start + device state load + cont): %v", time.Since(restStart))
		cleanBeats(t, dst, 3, last.Fields["seq"])
		verifyStart := time.Now()
		pages, errs, err := dst.VerifyGuest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("MEASURE guest verify of %d pages: %v", pages, time.Since(verifyStart))
		for _, l := range dst.SerialTail(tailLines) {
			if strings.Contains(l, "DCRES warn") || strings.Contains(l, "DCRES fatal") {
				t.Errorf("guest complains: %s", l)
			}
		}
		if errs != 0 || pages != ready.Fields["pages"] {
			t.Fatalf("VerifyGuest: pages=%d errors=%d; want pages=%d errors=0", pages, errs, ready.Fields["pages"])
		}
	})

	// Negative control: the same restore with one guest page damaged in
	// one node's copy must be caught by the guest's own check.
	t.Run("corrupted-copy-is-detected", func(t *testing.T) {
		idx := corruptGuestPage(t, filepath.Join(dir, "bad1"))
		dst := startVM(t, Config{Nodes: nodesIn(dir, "bad"), CPUs: 1, Incoming: true})
		if err := dst.LoadDeviceState(ctx, devState); err != nil {
			t.Fatal(err)
		}
		reported, stop := dst.Expect(func(l Line) bool { return l.Kind == "error" && l.Fields["page"] == int64(idx) })
		defer stop()
		if err := dst.Cont(ctx); err != nil {
			t.Fatal(err)
		}
		_, errs, err := dst.VerifyGuest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if errs == 0 {
			t.Fatalf("guest page %d was damaged but VerifyGuest reports 0 errors", idx)
		}
		select {
		case l := <-reported:
			t.Logf("guest reported the damaged page: %s", l.Raw)
		case <-time.After(5 * time.Second):
			t.Fatalf("guest reported %d errors but none for the damaged page %d", errs, idx)
		}
	})
}

func TestIntegrationStreamRoundTrip(t *testing.T) {
	dir := shmDir(t)
	src, ready, _ := bootGuest(t, nodesIn(dir, "ram"))
	last := cleanBeats(t, src, 2, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := src.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	stream := filepath.Join(t.TempDir(), "stream")
	start := time.Now()
	if err := src.SaveStream(ctx, stream); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(stream)
	t.Logf("MEASURE qemu-stream save of a 256 MiB guest: %v (%d bytes)", time.Since(start), fi.Size())
	if fi.Size() < ready.Fields["bytes"] {
		t.Fatalf("stream is %d bytes, smaller than the guest's %d written bytes: RAM not in it", fi.Size(), ready.Fields["bytes"])
	}
	src.Close()

	start = time.Now()
	dst := startVM(t, Config{Nodes: nodesIn(dir, "fresh"), CPUs: 1, Incoming: true})
	if err := dst.LoadStream(ctx, stream); err != nil {
		t.Fatal(err)
	}
	if err := dst.Cont(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURE qemu-stream restore: %v", time.Since(start))
	cleanBeats(t, dst, 2, last.Fields["seq"])
	if pages, errs, err := dst.VerifyGuest(ctx); err != nil || errs != 0 || pages != ready.Fields["pages"] {
		t.Fatalf("VerifyGuest after stream restore: pages=%d errors=%d err=%v", pages, errs, err)
	}
}

func TestIntegrationStartFailuresSayWhy(t *testing.T) {
	k, i := requireQEMU(t)
	dir := t.TempDir()
	base := Config{Kernel: k, Initrd: i, Dir: dir, Nodes: []Node{{SizeBytes: 64 << 20, MemPath: filepath.Join(dir, "ram0")}}}
	ctx := context.Background()

	c := base
	c.ExtraArgs = []string{"-no-such-option"}
	if _, err := Start(ctx, c); err == nil || !strings.Contains(err.Error(), "no-such-option") {
		t.Fatalf("bad option: err = %v, want QEMU's own complaint", err)
	}
	c = base
	c.Nodes = []Node{{SizeBytes: 64 << 20, MemPath: filepath.Join(dir, "absent", "ram0")}}
	if _, err := Start(ctx, c); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Fatalf("missing node dir: err = %v", err)
	}
}

func TestIntegrationKill(t *testing.T) {
	vm := startVM(t, Config{Nodes: nodesIn(t.TempDir(), "ram"), CPUs: 1})
	if err := vm.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-vm.Exited():
	case <-time.After(5 * time.Second):
		t.Fatal("QEMU still running 5 s after Kill")
	}
	if err := vm.Wait(); err == nil {
		t.Fatal("Wait after SIGKILL returned no error")
	}
}
