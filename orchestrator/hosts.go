package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"dcres/agentrpc"
	"dcres/rpc"
	"dcres/transport"
)

// HostSpec says how to reach one host's agent.
type HostSpec struct {
	Name string
	// Addr is host:port of the agent's SSH server (or of the host's sshd
	// when Command is set).
	Addr string
	User string
	// Command, when set, starts the agent through the host's own sshd
	// (e.g. "dcres agent --stdio") and speaks to it over that session.
	Command string
	// PeerAddr is where other agents reach this agent, when it differs
	// from Addr (e.g. agents in network namespaces).
	PeerAddr string
}

// hostConn is the coordinator's link to one agent.
type hostConn struct {
	spec   HostSpec
	client *transport.Client
	conn   *rpc.Conn
	info   agentrpc.InfoResult
	// timeout replaces callTimeout when set (Config.CallTimeout).
	timeout time.Duration

	mu        sync.Mutex
	rtt       time.Duration
	connected bool
}

// callTimeout bounds every control call that has no longer deadline of its own.
const callTimeout = 60 * time.Second

func dialHost(ctx context.Context, spec HostSpec, signers []ssh.Signer, hostKey ssh.HostKeyCallback, onEvent func(host, method string, body json.RawMessage)) (*hostConn, error) {
	user := spec.User
	if user == "" {
		user = "dcres"
	}
	client, err := transport.Dial(ctx, "tcp", spec.Addr, transport.ClientConfig{User: user, Signers: signers, HostKey: hostKey})
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", spec.Name, err)
	}
	var ch interface {
		Read([]byte) (int, error)
		Write([]byte) (int, error)
		Close() error
	}
	if spec.Command != "" {
		ch, err = client.Exec(ctx, spec.Command)
	} else {
		ch, err = client.Open(ctx)
	}
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("host %s: %w", spec.Name, err)
	}
	h := &hostConn{spec: spec, client: client, connected: true}
	h.conn = rpc.NewConn(ch, rpc.Options{OnEvent: func(method string, body json.RawMessage, _ []byte) {
		onEvent(spec.Name, method, body)
	}})
	start := time.Now()
	if err := h.call(ctx, agentrpc.Info, struct{}{}, &h.info); err != nil {
		h.close()
		return nil, fmt.Errorf("host %s: %w", spec.Name, err)
	}
	h.rtt = time.Since(start)
	if h.info.Name != spec.Name {
		h.close()
		return nil, fmt.Errorf("host %s at %s: the agent there calls itself %q (wrong address or --name?)", spec.Name, spec.Addr, h.info.Name)
	}
	return h, nil
}

// call runs one control call with the default deadline.
func (h *hostConn) call(ctx context.Context, method string, params, result any) error {
	return h.callFor(ctx, method, params, result, 0)
}

// callFor is call with its own deadline (0: the default).
func (h *hostConn) callFor(ctx context.Context, method string, params, result any, timeout time.Duration) error {
	if timeout == 0 {
		timeout = h.timeout
	}
	if timeout == 0 {
		timeout = callTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := h.conn.Call(ctx, method, params, nil, result); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	return nil
}

// ping measures the round trip and notices a lost link.
func (h *hostConn) ping(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	var info agentrpc.InfoResult
	_, err := h.conn.Call(ctx, agentrpc.Info, struct{}{}, nil, &info)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.connected = err == nil
	if err == nil {
		h.rtt = time.Since(start)
	}
}

func (h *hostConn) close() {
	h.conn.Close()
	h.client.Close()
}
