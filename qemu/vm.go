package qemu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
)

// startTimeout bounds QEMU's start (sockets up, QMP handshake) when the
// caller's context has no earlier deadline.
const startTimeout = 20 * time.Second

// VM is one running QEMU process.
type VM struct {
	cfg     Config
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	fsTypes []string

	qmp     *client
	con     *console
	conConn net.Conn // ttyS0: console output
	cmdConn net.Conn // ttyS1: commands to the guest
	conLog  *os.File
	qLog    *os.File

	verifyID  atomic.Int64
	closeOnce sync.Once
	closeErr  error
}

// Start checks the configuration, starts QEMU, attaches to its serial ports
// and connects QMP. The VM outlives ctx; end it with Close.
func Start(ctx context.Context, cfg Config) (*VM, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	bin, err := exec.LookPath(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("qemu: %s not found: install qemu-system-x86 (apt-get install --no-install-recommends qemu-system-x86): %v", cfg.Binary, err)
	}
	for _, p := range []string{cfg.Kernel, cfg.Initrd} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("qemu: guest image: %v (run make guest)", err)
		}
	}
	v := &VM{cfg: cfg, exited: make(chan struct{}), con: newConsole()}
	for _, n := range cfg.Nodes {
		t, err := FSType(n.MemPath)
		if err != nil {
			return nil, err
		}
		v.fsTypes = append(v.fsTypes, t)
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := v.start(ctx, bin); err != nil {
		v.Close()
		return nil, fmt.Errorf("%v%s", err, v.logHint())
	}
	return v, nil
}

func (v *VM) start(ctx context.Context, bin string) error {
	dir := v.cfg.Dir
	sock := func(name string) string { return filepath.Join(dir, name) }
	for _, n := range []string{"qmp.sock", "serial0.sock", "serial1.sock"} {
		os.Remove(sock(n)) // stale from an earlier run in this dir
	}
	l0, err := net.Listen("unix", sock("serial0.sock"))
	if err != nil {
		return fmt.Errorf("qemu: serial socket: %v", err)
	}
	defer l0.Close()
	l1, err := net.Listen("unix", sock("serial1.sock"))
	if err != nil {
		return fmt.Errorf("qemu: serial socket: %v", err)
	}
	defer l1.Close()
	if v.qLog, err = os.Create(sock("qemu.log")); err != nil {
		return fmt.Errorf("qemu: log: %v", err)
	}
	if v.conLog, err = os.Create(sock("serial0.log")); err != nil {
		return fmt.Errorf("qemu: log: %v", err)
	}

	args := v.cfg.args()
	v.cfg.logf("qemu: starting %s %s", bin, strings.Join(args, " "))
	v.cmd = exec.Command(bin, args...)
	v.cmd.Stdout, v.cmd.Stderr = v.qLog, v.qLog
	// Own process group (Kill reaches any helper), and death with us: an
	// agent that dies must not leave a guest running.
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := v.cmd.Start(); err != nil {
		close(v.exited)
		return fmt.Errorf("qemu: start %s: %v", bin, err)
	}
	go func() {
		v.waitErr = v.cmd.Wait()
		close(v.exited)
	}()

	if v.conConn, err = v.accept(ctx, l0); err != nil {
		return err
	}
	go v.con.read(v.conConn, v.conLog, time.Now)
	if v.cmdConn, err = v.accept(ctx, l1); err != nil {
		return err
	}
	mon, err := v.dialQMP(ctx, sock("qmp.sock"))
	if err != nil {
		return err
	}
	if v.qmp, err = newClient(mon, v.cfg.Logf); err != nil {
		mon.Disconnect()
		return err
	}
	return nil
}

// accept waits for QEMU to connect a serial chardev.
func (v *VM) accept(ctx context.Context, l net.Listener) (net.Conn, error) {
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := l.Accept(); ch <- res{c, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("qemu: serial connection: %v", r.err)
		}
		return r.c, nil
	case <-v.exited:
		l.Close()
		return nil, fmt.Errorf("qemu exited during start: %v", v.waitErr)
	case <-ctx.Done():
		l.Close()
		return nil, fmt.Errorf("qemu: serial port not connected: %w", ctx.Err())
	}
}

// dialQMP connects to QEMU's QMP server socket, retrying until it exists.
func (v *VM) dialQMP(ctx context.Context, path string) (*qmp.SocketMonitor, error) {
	for {
		mon, err := qmp.NewSocketMonitor("unix", path, time.Second)
		if err == nil {
			ch := make(chan error, 1)
			go func() { ch <- mon.Connect() }()
			select {
			case err = <-ch:
				if err == nil {
					return mon, nil
				}
			case <-ctx.Done():
				mon.Disconnect() // unblocks Connect
				<-ch
				return nil, fmt.Errorf("qemu: QMP handshake: %w", ctx.Err())
			}
			mon.Disconnect()
		}
		select {
		case <-v.exited:
			return nil, fmt.Errorf("qemu exited during start: %v", v.waitErr)
		case <-ctx.Done():
			return nil, fmt.Errorf("qemu: QMP socket %s: %v (%w)", path, err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logHint is the tail of qemu.log, to put QEMU's own words into an error.
func (v *VM) logHint() string {
	b, err := os.ReadFile(filepath.Join(v.cfg.Dir, "qemu.log"))
	if err != nil || len(strings.TrimSpace(string(b))) == 0 {
		return ""
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 800 {
		s = "..." + s[len(s)-800:]
	}
	return "; qemu.log: " + s
}

// NodeFSTypes returns the file system type of each node's directory, as
// found at Start (see FSType).
func (v *VM) NodeFSTypes() []string { return append([]string(nil), v.fsTypes...) }

// Pid is the QEMU process id.
func (v *VM) Pid() int { return v.cmd.Process.Pid }

// Exited is closed when the QEMU process has exited.
func (v *VM) Exited() <-chan struct{} { return v.exited }

// Wait waits for QEMU to exit and returns its exit status.
func (v *VM) Wait() error {
	<-v.exited
	return v.waitErr
}

// Kill kills QEMU's process group at once.
func (v *VM) Kill() error {
	if v.cmd == nil || v.cmd.Process == nil {
		return nil
	}
	select {
	case <-v.exited:
		return nil
	default:
	}
	if err := syscall.Kill(-v.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("qemu: kill %d: %v", v.cmd.Process.Pid, err)
	}
	return nil
}

// quitTimeout is how long Close waits for QEMU to quit before killing it.
const quitTimeout = 5 * time.Second

// Close asks QEMU to quit, kills it if it has not exited within a few
// seconds, and releases sockets, logs and goroutines. The process is always
// gone when Close returns.
func (v *VM) Close() error {
	v.closeOnce.Do(func() {
		if v.cmd != nil && v.cmd.Process != nil {
			if v.qmp != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				v.qmp.simple(ctx, "quit") // errors: QEMU may close the socket before replying
				cancel()
			}
			select {
			case <-v.exited:
			case <-time.After(quitTimeout):
				v.closeErr = v.Kill()
				<-v.exited
			}
		}
		if v.qmp != nil {
			v.qmp.close()
		}
		for _, c := range []net.Conn{v.conConn, v.cmdConn} {
			if c != nil {
				c.Close()
			}
		}
		if v.conConn != nil {
			<-v.con.done
		}
		for _, f := range []*os.File{v.conLog, v.qLog} {
			if f != nil {
				f.Close()
			}
		}
	})
	return v.closeErr
}
