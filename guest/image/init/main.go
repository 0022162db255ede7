// Command init is pid 1 of dcres's verifying QEMU guest. It allocates most
// of guest RAM, fills every page with content that encodes (page index,
// version), keeps the version table in its own memory, rewrites and checks
// pages at the dirty rate asked for on the kernel command line, and reports
// on the serial console (ttyS0):
//
//	DCRES ready pages=P bytes=B memavail=M seed=S
//	DCRES hb seq=N pages=P written=W read=R errors=E uptime_ms=T   (each second)
//	DCRES error page=I want=V got=G                                 (rate-limited)
//	DCRES verify id=N pages=P errors=E                              (on request)
//
// A line "verify N" on the second serial port (ttyS1) checks every page now.
// Settings (kernel command line): dcres.mem=PERCENT of MemAvailable,
// dcres.dirty=BYTES_PER_S, dcres.pattern=random|seq|hot, dcres.seed=N.
//
// Being pid 1 it never exits: on a fatal error it prints and sleeps.
package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// tick is the workload's time slice; work per slice is rate/10 pages.
const tick = 100 * time.Millisecond

func main() {
	start := time.Now()
	out := setup()
	if err := run(out, start); err != nil {
		fatal(out, err)
	}
}

// setup mounts the pseudo file systems and opens the console for output.
func setup() io.Writer {
	for _, m := range []struct{ src, dst, typ string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"},
	} {
		_ = os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.typ, 0, ""); err != nil && err != unix.EBUSY {
			fmt.Fprintf(os.Stderr, "DCRES warn mount %s: %v\n", m.dst, err)
		}
	}
	// The initramfs has no /dev/console node, so the kernel could not give
	// us stdout; open the console now that devtmpfs is up.
	for _, p := range []string{"/dev/console", "/dev/ttyS0"} {
		if f, err := os.OpenFile(p, os.O_WRONLY|unix.O_NOCTTY, 0); err == nil {
			return f
		}
	}
	return os.Stdout
}

func run(out io.Writer, start time.Time) error {
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return fmt.Errorf("read /proc/cmdline: %v", err)
	}
	cfg, err := parseCmdline(string(cmdline))
	if err != nil {
		return err
	}
	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return fmt.Errorf("read /proc/meminfo: %v", err)
	}
	avail, err := parseMemAvailable(string(meminfo))
	if err != nil {
		return err
	}
	size := int(avail * int64(cfg.MemPercent) / 100 / 4096 * 4096)
	if size < 4096 {
		return fmt.Errorf("only %d bytes available; give the guest more memory", avail)
	}
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("allocate %d bytes: %v", size, err)
	}
	// The command port is open before the fill: a tty drops what arrives
	// while nobody has it open, so a verify sent during a long fill (slow
	// remote memory, or a guest restored mid-fill) would be lost. Commands
	// wait in the channel until the loop runs.
	cmds := make(chan int64, 4)
	go readCommands(out, cmds)
	w := newWorkload(mem, cfg, out, start)
	w.fillAll()
	fmt.Fprintf(out, "DCRES ready pages=%d bytes=%d memavail=%d seed=%d\n", w.pages(), size, avail, cfg.Seed)

	loop(w, cfg, cmds)
	return nil
}

// loop runs the workload forever, one slice per tick, a heartbeat per
// second, and verify requests between slices.
func loop(w *workload, cfg config, cmds <-chan int64) {
	perTick := float64(cfg.DirtyRate) / 4096 / float64(time.Second/tick)
	var owed float64
	var seq int64
	t := time.NewTicker(tick)
	nextBeat := time.Now().Add(time.Second)
	for {
		select {
		case id := <-cmds:
			w.verifyAll(id)
		case now := <-t.C:
			owed += perTick
			n := int(owed)
			owed -= float64(n)
			w.step(n)
			if !now.Before(nextBeat) {
				seq++
				w.heartbeat(seq, now)
				nextBeat = nextBeat.Add(time.Second)
				if now.After(nextBeat) { // fell behind (slow TCG, or a pause): do not burst
					nextBeat = now.Add(time.Second)
				}
			}
		}
	}
}

func fatal(out io.Writer, err error) {
	fmt.Fprintf(out, "DCRES fatal %v\n", err)
	for {
		time.Sleep(time.Hour)
	}
}
