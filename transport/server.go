package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Identity roles.
const (
	RoleOperator = "operator"
	RolePeer     = "peer"
)

// ChannelType is the SSH channel type that carries dcres rpc.
const ChannelType = "dcres"

// Identity is who authenticated a connection.
type Identity struct {
	Role        string // RoleOperator or RolePeer
	Name        string // peer name, or the operator key's comment
	Fingerprint string // "SHA256:..." of the key that signed the authentication
}

// Default timeouts of a Server.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultKeepAlive        = 30 * time.Second
)

// ServerConfig configures a Server.
type ServerConfig struct {
	HostKey ssh.Signer
	// Authorize maps a public key that *signed* the authentication to an
	// identity, or refuses it.
	Authorize func(key ssh.PublicKey) (Identity, bool)
	Logf      func(string, ...any)
	// HandshakeTimeout drops connections that have not authenticated in
	// time; 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// KeepAlive is how often an idle connection is probed; a connection
	// that does not answer within another KeepAlive is dropped. 0 means
	// DefaultKeepAlive.
	KeepAlive time.Duration
	// Exec, if set, answers `ssh HOST COMMAND` from OpenSSH clients of
	// operators (see session.go): it writes the command's output to w and
	// returns its exit status. Peers may never exec. Nil refuses every
	// "session" channel.
	Exec ExecFunc
}

// Server accepts SSH connections for a host agent.
type Server struct {
	cfg ServerConfig
}

// NewServer returns a Server; cfg.HostKey and cfg.Authorize are required.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	return &Server{cfg: cfg}
}

// Permission extension names; the identity travels in the authenticated
// connection's Permissions, never in state kept from a callback (see
// CVE-2024-45337: a client may offer one key and sign with another).
const (
	extRole        = "dcres-role"
	extName        = "dcres-name"
	extFingerprint = "dcres-fingerprint"
)

func (s *Server) sshConfig() (*ssh.ServerConfig, error) {
	if s.cfg.HostKey == nil || s.cfg.Authorize == nil {
		return nil, errors.New("transport: ServerConfig needs HostKey and Authorize")
	}
	conf := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			id, ok := s.cfg.Authorize(key)
			if !ok {
				s.cfg.Logf("transport: %s offered unauthorized key %s", meta.RemoteAddr(), describeKey(key))
				return nil, fmt.Errorf("key %s is not authorized", Fingerprint(key))
			}
			return &ssh.Permissions{Extensions: map[string]string{
				extRole: id.Role, extName: id.Name, extFingerprint: Fingerprint(key),
			}}, nil
		},
		ServerVersion: "SSH-2.0-dcres",
	}
	conf.AddHostKey(s.cfg.HostKey)
	return conf, nil
}

// Serve accepts SSH connections on ln. Every channel of type "dcres" is
// handed to handle, on its own goroutine, with the identity of the key that
// authenticated; handle's ctx ends with the connection or with Serve's ctx.
// "session" channels are refused with a message pointing at OpenSSH's sshd.
// Serve returns when ctx ends (nil) or ln fails, after closing every
// connection and waiting for every goroutine, handlers included.
func (s *Server) Serve(ctx context.Context, ln net.Listener, handle func(ctx context.Context, id Identity, ch io.ReadWriteCloser)) error {
	conf, err := s.sshConfig()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		<-ctx.Done()
		ln.Close()
	})
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("transport: accept on %s: %w", ln.Addr(), err)
		}
		delay = 0
		wg.Go(func() { s.serveConn(ctx, conn, conf, handle) })
	}
}

// serveConn runs one SSH connection until it ends or ctx does.
func (s *Server) serveConn(ctx context.Context, conn net.Conn, conf *ssh.ServerConfig, handle func(context.Context, Identity, io.ReadWriteCloser)) {
	defer conn.Close()
	remote := conn.RemoteAddr()
	conn.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	sc, chans, reqs, err := ssh.NewServerConn(conn, conf)
	if err != nil {
		s.cfg.Logf("transport: %s: handshake: %v", remote, err)
		return
	}
	conn.SetDeadline(time.Time{})
	defer sc.Close()
	ext := sc.Permissions.Extensions
	id := Identity{Role: ext[extRole], Name: ext[extName], Fingerprint: ext[extFingerprint]}
	s.cfg.Logf("transport: %s: authenticated as %s %q (%s)", remote, id.Role, id.Name, id.Fingerprint)

	connCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { ssh.DiscardRequests(reqs) })
	wg.Go(func() { keepAlive(connCtx, sc, s.cfg.KeepAlive) })
	for nc := range chans {
		switch nc.ChannelType() {
		case ChannelType:
			ch, chReqs, err := nc.Accept()
			if err != nil {
				s.cfg.Logf("transport: %s: accept channel: %v", remote, err)
				continue
			}
			wg.Go(func() { ssh.DiscardRequests(chReqs) })
			wg.Go(func() {
				defer ch.Close()
				handle(connCtx, id, ch)
			})
		case "session":
			if s.cfg.Exec == nil {
				nc.Reject(ssh.Prohibited, "this is a dcres agent, not a shell: connect with the dcres console; `dcres agent --stdio` runs behind OpenSSH's sshd")
				continue
			}
			if id.Role != RoleOperator {
				nc.Reject(ssh.Prohibited, "this is a dcres agent: peers may not run commands")
				continue
			}
			ch, chReqs, err := nc.Accept()
			if err != nil {
				s.cfg.Logf("transport: %s: accept session: %v", remote, err)
				continue
			}
			wg.Go(func() { s.serveSession(connCtx, id, ch, chReqs) })
		default:
			nc.Reject(ssh.UnknownChannelType, "dcres agents accept only \"dcres\" channels")
		}
	}
	// chans closes when the connection ends; cancel tells handlers.
}

// keepAlive probes the connection every interval and closes it when a probe
// stays unanswered for another interval: a dead peer or a cut link does not
// hold the agent's resources forever.
func keepAlive(ctx context.Context, c ssh.Conn, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		answered := make(chan struct{})
		timer := time.AfterFunc(interval, func() {
			select {
			case <-answered:
			default:
				c.Close()
			}
		})
		_, _, err := c.SendRequest("keepalive@dcres", true, nil)
		close(answered)
		timer.Stop()
		if err != nil {
			c.Close()
			return
		}
	}
}
