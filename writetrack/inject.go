package writetrack

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// borrowFD has thread tid of process pid create a userfaultfd and returns
// this process's copy of it; the target's copy is closed again, so the
// target holds nothing it did not have before.
func borrowFD(pid int) (fd int, err error) {
	// Every ptrace request must come from the thread that seized the tracee.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	t, err := seize(pid)
	if err != nil {
		return -1, err
	}
	defer func() {
		if derr := t.release(); derr != nil && err == nil {
			unix.Close(fd)
			fd, err = -1, derr
		}
	}()
	remote, err := t.syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK)
	if err != nil {
		return -1, fmt.Errorf("userfaultfd in process %d: %w", pid, err)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err == nil {
		fd, err = unix.PidfdGetfd(pidfd, int(remote), 0)
		unix.Close(pidfd)
	}
	if _, cerr := t.syscall(unix.SYS_CLOSE, remote); cerr != nil && err == nil {
		unix.Close(fd)
		return -1, fmt.Errorf("closing the target's userfaultfd: %w", cerr)
	}
	if err != nil {
		return -1, fmt.Errorf("taking process %d's userfaultfd: %w", pid, err)
	}
	return fd, nil
}

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
