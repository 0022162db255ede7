package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// DefaultDialTimeout bounds connecting plus the SSH handshake.
const DefaultDialTimeout = 10 * time.Second

// ClientConfig configures a Client.
type ClientConfig struct {
	User    string
	Signers []ssh.Signer
	// HostKey is required; use KnownHosts or PinnedKey.
	HostKey ssh.HostKeyCallback
	// DialTimeout bounds connecting plus handshake; 0 means DefaultDialTimeout.
	DialTimeout time.Duration
}

// Client is an authenticated SSH connection to a host agent (or sshd).
type Client struct {
	ssh  *ssh.Client
	addr string
	wg   sync.WaitGroup
}

// Dial connects to addr and authenticates.
func Dial(ctx context.Context, network, addr string, cfg ClientConfig) (*Client, error) {
	timeout := cfg.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	if err := cfg.check(addr); err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, dialError(addr, timeout, err)
	}
	return NewClientConn(ctx, conn, addr, cfg)
}

func (cfg *ClientConfig) check(addr string) error {
	if cfg.HostKey == nil {
		return fmt.Errorf("ssh to %s: no host key check configured: use transport.KnownHosts or transport.PinnedKey", addr)
	}
	if len(cfg.Signers) == 0 {
		return fmt.Errorf("ssh to %s: no keys to authenticate with: name a key file or start ssh-agent", addr)
	}
	return nil
}

func dialError(addr string, timeout time.Duration, err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("connect to %s: connection refused: is the dcres agent running on %s?", addr, addr)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("connect to %s: canceled", addr)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("connect to %s: timed out after %v: is the host up and the port open?", addr, timeout)
	}
	return fmt.Errorf("connect to %s: %v", addr, err)
}

// NewClientConn runs the SSH handshake over an existing conn (closed on
// failure). addr names the host for host key checks and errors.
func NewClientConn(ctx context.Context, conn net.Conn, addr string, cfg ClientConfig) (*Client, error) {
	if err := cfg.check(addr); err != nil {
		conn.Close()
		return nil, err
	}
	timeout := cfg.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User:            cfg.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(cfg.Signers...)},
		HostKeyCallback: cfg.HostKey,
		Timeout:         timeout,
	})
	canceled := !stop()
	if err != nil {
		conn.Close()
		return nil, handshakeError(addr, timeout, canceled, cfg.Signers, err)
	}
	if canceled {
		sc.Close()
		return nil, fmt.Errorf("ssh to %s: %w", addr, ctx.Err())
	}
	conn.SetDeadline(time.Time{})
	return &Client{ssh: ssh.NewClient(sc, chans, reqs), addr: addr}, nil
}

func handshakeError(addr string, timeout time.Duration, canceled bool, signers []ssh.Signer, err error) error {
	var hke *HostKeyError
	var ne net.Error
	switch {
	case errors.As(err, &hke):
		return hke
	case canceled:
		return fmt.Errorf("ssh to %s: handshake canceled", addr)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("ssh to %s: handshake timed out after %v: is a dcres agent (or sshd) listening there?", addr, timeout)
	case strings.Contains(err.Error(), "unable to authenticate"):
		var fps []string
		for _, s := range signers {
			fps = append(fps, Fingerprint(s.PublicKey()))
		}
		return fmt.Errorf("ssh to %s: our keys (%s) were refused: add the public key to the agent's authorized keys", addr, strings.Join(fps, ", "))
	case errors.Is(err, io.EOF):
		return fmt.Errorf("ssh to %s: the server closed the connection during the handshake: is it an SSH server, and does it accept us?", addr)
	}
	return fmt.Errorf("ssh to %s: %v", addr, err)
}

// Open opens a "dcres" channel, the stream an rpc.Conn runs over.
func (c *Client) Open(ctx context.Context) (io.ReadWriteCloser, error) {
	type result struct {
		ch  ssh.Channel
		err error
	}
	res := make(chan result, 1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ch, reqs, err := c.ssh.OpenChannel(ChannelType, nil)
		if err == nil {
			c.wg.Add(1)
			go func() { defer c.wg.Done(); ssh.DiscardRequests(reqs) }()
		}
		res <- result{ch, err}
	}()
	select {
	case r := <-res:
		if r.err != nil {
			return nil, fmt.Errorf("open dcres channel on %s: %v", c.addr, r.err)
		}
		return r.ch, nil
	case <-ctx.Done():
		// The open completes or fails on its own; close what it yields.
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if r := <-res; r.err == nil {
				r.ch.Close()
			}
		}()
		return nil, fmt.Errorf("open dcres channel on %s: %w", c.addr, ctx.Err())
	}
}

// Exec runs cmd in an SSH session (e.g. `dcres agent --stdio` behind
// OpenSSH's sshd) and returns its stdin and stdout as one stream. Close ends
// the session. The stream is an *ExecStream, whose Stderr shows the tail of
// the command's standard error.
func (c *Client) Exec(ctx context.Context, cmd string) (io.ReadWriteCloser, error) {
	type result struct {
		s   *ssh.Session
		err error
	}
	res := make(chan result, 1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		s, err := c.ssh.NewSession()
		res <- result{s, err}
	}()
	var sess *ssh.Session
	select {
	case r := <-res:
		if r.err != nil {
			return nil, fmt.Errorf("exec %q on %s: %v", cmd, c.addr, r.err)
		}
		sess = r.s
	case <-ctx.Done():
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if r := <-res; r.err == nil {
				r.s.Close()
			}
		}()
		return nil, fmt.Errorf("exec %q on %s: %w", cmd, c.addr, ctx.Err())
	}
	es := &ExecStream{sess: sess, stderr: &tailBuffer{max: 4096}}
	var err error
	if es.stdin, err = sess.StdinPipe(); err == nil {
		if es.stdout, err = sess.StdoutPipe(); err == nil {
			sess.Stderr = es.stderr
			err = sess.Start(cmd)
		}
	}
	if err != nil {
		sess.Close()
		return nil, fmt.Errorf("exec %q on %s: %v", cmd, c.addr, err)
	}
	return es, nil
}

// Close closes the connection and waits for the Client's goroutines.
func (c *Client) Close() error {
	err := c.ssh.Close()
	c.wg.Wait()
	if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
		err = nil
	}
	return err
}

// ExecStream is the stdin/stdout stream of a remote command.
type ExecStream struct {
	sess   *ssh.Session
	stdin  io.WriteCloser
	stdout io.Reader
	stderr *tailBuffer
	once   sync.Once
}

func (e *ExecStream) Read(p []byte) (int, error)  { return e.stdout.Read(p) }
func (e *ExecStream) Write(p []byte) (int, error) { return e.stdin.Write(p) }

// execGrace is how long Close lets the command exit on its own after EOF
// on its stdin (so its last words reach Stderr) before ending the session.
const execGrace = time.Second

// Close sends EOF to the command, gives it execGrace to exit, then ends the
// session and waits for it.
func (e *ExecStream) Close() error {
	e.once.Do(func() {
		e.stdin.Close()
		exited := make(chan struct{})
		go func() { e.sess.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(execGrace):
		}
		e.sess.Close()
		<-exited
	})
	return nil
}

// Stderr returns the last few KiB the command wrote to standard error.
func (e *ExecStream) Stderr() string { return e.stderr.String() }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
