package writetrack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The ptrace work runs in a helper process, this program run again: a
// tracer's whole thread group sees its tracee's stops in wait(2) even
// without WUNTRACED, so in a program that is also the target's parent (the
// agent starts QEMU) the goroutine waiting for the target to exit would take
// the stops meant for the tracer, and both would go wrong.

// helperEnv, set to a process id, makes this program the helper.
const helperEnv = "DCRES_WRITETRACK_HELPER"

// MaybeHelper turns this process into Attach's ptrace helper when it was
// started as one, and returns otherwise. Every program that calls Attach
// calls it first thing in main (or TestMain).
func MaybeHelper() {
	v := os.Getenv(helperEnv)
	if v == "" {
		return
	}
	pid, err := strconv.Atoi(v)
	if err == nil {
		err = lend(pid, bufio.NewReader(os.Stdin), os.Stdout)
	}
	if err != nil {
		fmt.Fprintf(os.Stdout, "error %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// lend is the helper: it has the target create a userfaultfd, reports its
// number ("fd N"), waits until the caller has taken it ("taken"), closes the
// target's copy and lets the target go.
func lend(pid int, in *bufio.Reader, out io.Writer) (err error) {
	// Every ptrace request must come from the thread that seized the tracee.
	runtime.LockOSThread()
	t, err := seize(pid)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := t.release(); rerr != nil && err == nil {
			err = rerr
		}
	}()
	remote, err := t.syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK)
	if err != nil {
		return fmt.Errorf("userfaultfd in process %d: %w", pid, err)
	}
	fmt.Fprintf(out, "fd %d\n", remote)
	_, rerr := in.ReadString('\n')
	if _, err := t.syscall(unix.SYS_CLOSE, remote); err != nil {
		return fmt.Errorf("closing process %d's userfaultfd: %w", pid, err)
	}
	if rerr != nil {
		return fmt.Errorf("the caller went away: %w", rerr)
	}
	return nil
}

// borrowFD has process pid create a userfaultfd (through the helper) and
// returns this process's copy of it; the target's copy is closed again, so
// the target holds nothing it did not have before.
func borrowFD(pid int) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Env = append(os.Environ(), helperEnv+"="+strconv.Itoa(pid))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return -1, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return -1, err
	}
	if err := cmd.Start(); err != nil {
		return -1, fmt.Errorf("starting the ptrace helper: %w", err)
	}
	fd, err := -1, error(nil)
	line, rerr := bufio.NewReader(stdout).ReadString('\n')
	line = strings.TrimSpace(line)
	var remote int
	switch {
	case rerr != nil:
		err = fmt.Errorf("the ptrace helper said nothing (does this program call writetrack.MaybeHelper first in main?): %v %s", rerr, strings.TrimSpace(stderr.String()))
	case strings.HasPrefix(line, "error "):
		err = errors.New(strings.TrimPrefix(line, "error "))
	default:
		if _, serr := fmt.Sscanf(line, "fd %d", &remote); serr != nil {
			err = fmt.Errorf("the ptrace helper said %q", line)
			break
		}
		var pidfd int
		if pidfd, err = unix.PidfdOpen(pid, 0); err == nil {
			fd, err = unix.PidfdGetfd(pidfd, remote, 0)
			unix.Close(pidfd)
		}
		if err != nil {
			err = fmt.Errorf("taking process %d's userfaultfd: %w", pid, err)
		}
	}
	fmt.Fprintln(stdin, "taken")
	stdin.Close()
	if werr := cmd.Wait(); werr != nil && err == nil {
		// The helper's own error line, if it sent one after "fd N".
		rest, _ := io.ReadAll(stdout)
		err = fmt.Errorf("the ptrace helper: %v %s", werr, strings.TrimSpace(string(rest)))
	}
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return -1, err
	}
	return fd, nil
}

// helperTimeout bounds the helper's whole life; it stops the target's one
// thread for a few milliseconds of it.
const helperTimeout = 10 * time.Second

// tracee is a thread stopped under ptrace with its registers saved.
type tracee struct {
	tid     int
	saved   unix.PtraceRegs
	sysAddr uint64 // a syscall instruction in the tracee's text
	signals []unix.Signal
}

func seize(tid int) (*tracee, error) {
	if err := unix.PtraceSeize(tid); err != nil {
		return nil, fmt.Errorf("ptrace process %d (is another debugger attached, or ptrace restricted by kernel.yama.ptrace_scope?): %w", tid, err)
	}
	t := &tracee{tid: tid}
	if err := unix.PtraceInterrupt(tid); err != nil {
		unix.PtraceDetach(tid)
		return nil, fmt.Errorf("ptrace interrupt %d: %w", tid, err)
	}
	if err := t.wait(); err != nil {
		unix.PtraceDetach(tid)
		return nil, err
	}
	if err := unix.PtraceGetRegs(tid, &t.saved); err != nil {
		unix.PtraceDetach(tid)
		return nil, fmt.Errorf("ptrace getregs %d: %w", tid, err)
	}
	addr, err := t.findSyscall()
	if err != nil {
		t.release()
		return nil, err
	}
	t.sysAddr = addr
	return t, nil
}

// wait waits for the tracee's next stop; a signal that arrived meanwhile is
// kept, to be delivered once the tracee is let go.
func (t *tracee) wait() error {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(t.tid, &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("waiting for process %d: %w", t.tid, err)
		}
		break
	}
	switch {
	case ws.Exited() || ws.Signaled():
		return fmt.Errorf("process %d ended while being traced", t.tid)
	case !ws.Stopped():
		return fmt.Errorf("process %d: unexpected wait status %#x", t.tid, uint32(ws))
	}
	// A signal-delivery-stop (not a ptrace event stop, not our trap) holds
	// a signal meant for the target.
	if sig := ws.StopSignal(); sig != unix.SIGTRAP && uint32(ws)>>16 == 0 {
		t.signals = append(t.signals, sig)
	}
	return nil
}

// syscall runs one system call in the tracee and returns its result.
func (t *tracee) syscall(nr uintptr, args ...uintptr) (uintptr, error) {
	regs := t.saved
	a := make([]uint64, 6)
	for i, v := range args {
		a[i] = uint64(v)
	}
	regs.Rax, regs.Rip = uint64(nr), t.sysAddr
	// Not a system call being restarted: without this the kernel would
	// rewind rip over an interrupted call's restart.
	regs.Orig_rax = ^uint64(0)
	regs.Rdi, regs.Rsi, regs.Rdx, regs.R10, regs.R8, regs.R9 = a[0], a[1], a[2], a[3], a[4], a[5]
	if err := unix.PtraceSetRegs(t.tid, &regs); err != nil {
		return 0, fmt.Errorf("ptrace setregs: %w", err)
	}
	for range 16 {
		if err := unix.PtraceSingleStep(t.tid); err != nil {
			return 0, fmt.Errorf("ptrace singlestep: %w", err)
		}
		if err := t.wait(); err != nil {
			return 0, err
		}
		var out unix.PtraceRegs
		if err := unix.PtraceGetRegs(t.tid, &out); err != nil {
			return 0, fmt.Errorf("ptrace getregs: %w", err)
		}
		if out.Rip == t.sysAddr+2 {
			if r := int64(out.Rax); r < 0 && r > -4096 {
				return 0, unix.Errno(-r)
			}
			return uintptr(out.Rax), nil
		}
		// Stopped by a signal before the instruction ran: step again.
	}
	return 0, fmt.Errorf("process %d did not run the injected system call", t.tid)
}

// release puts the registers back, lets the tracee go and delivers the
// signals that arrived while it was stopped.
func (t *tracee) release() error {
	err := unix.PtraceSetRegs(t.tid, &t.saved)
	if derr := unix.PtraceDetach(t.tid); derr != nil && err == nil {
		err = derr
	}
	for _, sig := range t.signals {
		unix.Tgkill(t.tid, t.tid, sig)
	}
	if err != nil {
		return fmt.Errorf("letting process %d go: %w", t.tid, err)
	}
	return nil
}

// findSyscall finds a syscall instruction (0f 05) to run injected calls
// with, without writing to the tracee's text (its other threads run it): the
// one the thread is stopped in, if it is in a system call, else one in the
// vDSO or another executable mapping.
func (t *tracee) findSyscall() (uint64, error) {
	var b [2]byte
	if t.saved.Rip >= 2 {
		if n, err := unix.PtracePeekText(t.tid, uintptr(t.saved.Rip-2), b[:]); err == nil && n == 2 && b == [2]byte{0x0f, 0x05} {
			return t.saved.Rip - 2, nil
		}
	}
	maps, err := readMaps(t.tid)
	if err != nil {
		return 0, err
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", t.tid))
	if err != nil {
		return 0, err
	}
	defer mem.Close()
	// The vDSO first: small, and its time fallbacks are system calls.
	for pass := 0; pass < 2; pass++ {
		for _, m := range maps {
			if !strings.Contains(m.perms, "x") || (pass == 0) != (m.path == "[vdso]") {
				continue
			}
			if addr, ok := scanFor(mem, m.start, m.end); ok {
				return addr, nil
			}
		}
	}
	return 0, fmt.Errorf("process %d: no syscall instruction found in its executable mappings", t.tid)
}

func scanFor(mem *os.File, start, end uint64) (uint64, bool) {
	buf := make([]byte, 64<<10)
	for off := start; off < end; {
		n := min(uint64(len(buf)), end-off)
		got, _ := mem.ReadAt(buf[:n], int64(off))
		if got <= 0 {
			return 0, false
		}
		if i := bytes.Index(buf[:got], []byte{0x0f, 0x05}); i >= 0 {
			return off + uint64(i), true
		}
		// Keep one byte of overlap so a pair split across reads is found.
		off += uint64(max(got-1, 1))
	}
	return 0, false
}

// mapping is one line of /proc/PID/maps.
type mapping struct {
	start, end uint64
	perms      string
	offset     uint64
	path       string
}

func readMaps(pid int) ([]mapping, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mapping
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// start-end perms offset dev inode [path]
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		var m mapping
		var e1, e2, e3 error
		m.start, e1 = strconv.ParseUint(lo, 16, 64)
		m.end, e2 = strconv.ParseUint(hi, 16, 64)
		m.offset, e3 = strconv.ParseUint(fields[2], 16, 64)
		if e1 != nil || e2 != nil || e3 != nil {
			continue
		}
		m.perms = fields[1]
		if len(fields) >= 6 {
			m.path = strings.Join(fields[5:], " ")
		}
		out = append(out, m)
	}
	return out, sc.Err()
}
