package hostagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"golang.org/x/crypto/ssh"

	"dcres/ckpt"
	"dcres/rpc"
	"dcres/transport"
)

// Version is the agent's version, reported by agent.info.
var Version = "dev"

// Agent is one host's agent.
type Agent struct {
	cfg      Config
	hostKey  ssh.Signer
	store    ckpt.Store
	ops      []ssh.PublicKey
	peerPool *peerPool
	faults   []fault
	// rebase: a compacted checkpoint ("vm/id") stands for this one of its
	// chain; once committed, a VM whose base was that one is based on it.
	rebase map[string]string

	mu        sync.Mutex
	vms       map[string]*vm
	peerKeys  map[string]peerGrant // fingerprint -> grant
	operators map[*rpc.Conn]bool
	wg        sync.WaitGroup
}

// peerGrant is what an introduced peer key may do: serve and be served pages
// of these VMs only.
type peerGrant struct {
	name string
	vms  map[string]bool
}

// New loads the agent's keys and cleans what an earlier, killed agent left.
func New(cfg Config) (*Agent, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("hostagent: data directory: %w", err)
	}
	key, err := transport.LoadOrCreateHostKey(HostKeyPath(cfg.DataDir))
	if err != nil {
		return nil, err
	}
	ops, err := transport.LoadAuthorizedKeys(cfg.AuthorizedKeys)
	if err != nil {
		return nil, fmt.Errorf("hostagent: %w (write the operator's public key there)", err)
	}
	a := &Agent{
		cfg: cfg, hostKey: key, ops: ops,
		store:     ckpt.Store{Root: CheckpointRoot(cfg.DataDir)},
		vms:       map[string]*vm{},
		peerKeys:  map[string]peerGrant{},
		operators: map[*rpc.Conn]bool{},
	}
	a.peerPool = newPeerPool(a)
	if a.faults, err = parseFaults(os.Getenv("DCRES_FAULT"), cfg.Name); err != nil {
		return nil, err
	}
	a.cleanStale()
	removed, err := a.store.CleanPartials()
	if err != nil {
		return nil, fmt.Errorf("hostagent: cleaning partial checkpoints: %w", err)
	}
	for _, r := range removed {
		cfg.Logf("removed partial checkpoint file left by an earlier run: %s", r)
	}
	return a, nil
}

// HostKey is the agent's public host key.
func (a *Agent) HostKey() ssh.PublicKey { return a.hostKey.PublicKey() }

// Serve accepts SSH connections on ln until ctx ends.
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	srv := transport.NewServer(transport.ServerConfig{
		HostKey:   a.hostKey,
		Authorize: a.authorize,
		Logf:      a.cfg.Logf,
		// `ssh -p PORT host dcres info` works with the OpenSSH client.
		Exec: transport.AgentCommands(a.cfg.Name, Version, a.hostKey.PublicKey()),
	})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.statsLoop(ctx) }()
	err := srv.Serve(ctx, ln, a.handle)
	cancel()
	a.shutdown()
	a.wg.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// ServeStdio serves one operator over r and w (`dcres agent --stdio` behind
// OpenSSH's sshd, which has already authenticated the user). Peer links
// still need a listener, given to Serve in parallel by the caller.
func (a *Agent) ServeStdio(ctx context.Context, rw io.ReadWriteCloser) error {
	a.handle(ctx, transport.Identity{Role: "operator", Name: "stdio"}, rw)
	return nil
}

func (a *Agent) authorize(key ssh.PublicKey) (transport.Identity, bool) {
	fp := transport.Fingerprint(key)
	for _, k := range a.ops {
		if string(k.Marshal()) == string(key.Marshal()) {
			return transport.Identity{Role: "operator", Name: "operator", Fingerprint: fp}, true
		}
	}
	a.mu.Lock()
	g, ok := a.peerKeys[fp]
	a.mu.Unlock()
	if ok {
		return transport.Identity{Role: "peer", Name: g.name, Fingerprint: fp}, true
	}
	return transport.Identity{}, false
}

// handle serves one RPC stream until it closes.
func (a *Agent) handle(ctx context.Context, id transport.Identity, ch io.ReadWriteCloser) {
	var conn *rpc.Conn
	switch id.Role {
	case "operator":
		conn = rpc.NewConn(ch, rpc.Options{Handler: a.operatorHandler, Logf: a.cfg.Logf})
		a.mu.Lock()
		a.operators[conn] = true
		a.mu.Unlock()
		defer func() {
			a.mu.Lock()
			delete(a.operators, conn)
			a.mu.Unlock()
		}()
	case "peer":
		conn = rpc.NewConn(ch, rpc.Options{Handler: a.peerHandler(id.Name, id.Fingerprint), Logf: a.cfg.Logf})
	default:
		ch.Close()
		return
	}
	select {
	case <-conn.Done():
	case <-ctx.Done():
	}
	conn.Close()
}

// notify sends an event to every operator.
func (a *Agent) notify(method string, body any) {
	a.mu.Lock()
	conns := make([]*rpc.Conn, 0, len(a.operators))
	for c := range a.operators {
		conns = append(conns, c)
	}
	a.mu.Unlock()
	for _, c := range conns {
		_ = c.Notify(method, body, nil)
	}
}

func (a *Agent) vm(name string) (*vm, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v := a.vms[name]
	if v == nil {
		return nil, fmt.Errorf("no VM %q on host %s (set it up first)", name, a.cfg.Name)
	}
	return v, nil
}

func (a *Agent) shutdown() {
	a.mu.Lock()
	vms := a.vms
	a.vms = map[string]*vm{}
	a.mu.Unlock()
	for _, v := range vms {
		v.close()
	}
	a.peerPool.close()
}
