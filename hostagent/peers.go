package hostagent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"dcres/agentrpc"
	"dcres/api"
	"dcres/rpc"
	"dcres/transport"
)

// peerPool holds this agent's links to the peers the operator introduced.
// A link is dialled on first use and dialled again after it breaks.
type peerPool struct {
	a     *Agent
	mu    sync.Mutex
	peers map[string]*peerLink
}

type peerLink struct {
	addr   string
	key    ssh.PublicKey
	client *transport.Client
	conn   *rpc.Conn
}

func newPeerPool(a *Agent) *peerPool { return &peerPool{a: a, peers: map[string]*peerLink{}} }

// introduce records the peers of vm: where to reach them, which key they
// must show, and that they may exchange pages of vm with this agent.
func (a *Agent) introduce(vmName string, peers []agentrpc.Peer) error {
	for _, p := range peers {
		if p.Name == a.cfg.Name {
			continue
		}
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(p.HostKey))
		if err != nil {
			return fmt.Errorf("peer %s: bad host key: %w", p.Name, err)
		}
		fp := transport.Fingerprint(key)
		a.mu.Lock()
		g, ok := a.peerKeys[fp]
		if !ok || g.name != p.Name {
			g = peerGrant{name: p.Name, vms: map[string]bool{}}
		}
		g.vms[vmName] = true
		a.peerKeys[fp] = g
		a.mu.Unlock()
		a.peerPool.set(p.Name, p.Addr, key)
	}
	return nil
}

func (pp *peerPool) set(name, addr string, key ssh.PublicKey) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if l := pp.peers[name]; l != nil {
		if l.addr == addr && string(l.key.Marshal()) == string(key.Marshal()) {
			return
		}
		l.close()
	}
	pp.peers[name] = &peerLink{addr: addr, key: key}
}

// conn returns a live connection to peer name.
func (pp *peerPool) conn(ctx context.Context, name string) (*rpc.Conn, error) {
	pp.mu.Lock()
	l := pp.peers[name]
	if l == nil {
		pp.mu.Unlock()
		return nil, fmt.Errorf("host %s was never introduced as a peer of %s", name, pp.a.cfg.Name)
	}
	if l.conn != nil {
		select {
		case <-l.conn.Done():
			l.close()
		default:
			c := l.conn
			pp.mu.Unlock()
			return c, nil
		}
	}
	addr, key := l.addr, l.key
	pp.mu.Unlock()

	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	client, err := transport.Dial(dctx, "tcp", addr, transport.ClientConfig{
		User: "dcres-peer", Signers: []ssh.Signer{pp.a.hostKey}, HostKey: transport.PinnedKey(key),
	})
	if err != nil {
		return nil, fmt.Errorf("peer link %s -> %s (%s): %w", pp.a.cfg.Name, name, addr, err)
	}
	ch, err := client.Open(dctx)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("peer link %s -> %s: %w", pp.a.cfg.Name, name, err)
	}
	conn := rpc.NewConn(ch, rpc.Options{Logf: pp.a.cfg.Logf})

	pp.mu.Lock()
	defer pp.mu.Unlock()
	if cur := pp.peers[name]; cur == l && l.conn == nil {
		l.client, l.conn = client, conn
		return conn, nil
	}
	// Someone else connected (or the peer was replaced) meanwhile.
	conn.Close()
	client.Close()
	if cur := pp.peers[name]; cur != nil && cur.conn != nil {
		return cur.conn, nil
	}
	return nil, fmt.Errorf("peer link %s -> %s changed while connecting; try again", pp.a.cfg.Name, name)
}

func (l *peerLink) close() {
	if l.conn != nil {
		l.conn.Close()
	}
	if l.client != nil {
		l.client.Close()
	}
	l.conn, l.client = nil, nil
}

func (pp *peerPool) close() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	for _, l := range pp.peers {
		l.close()
	}
}

// call runs one peer call with a deadline, so a dead peer is an error, not a hang.
func (pp *peerPool) call(ctx context.Context, peer, method string, params any, payload []byte, result any) ([]byte, error) {
	conn, err := pp.conn(ctx, peer)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := conn.Call(ctx, method, params, payload, result)
	if err != nil {
		return nil, fmt.Errorf("%s from %s: %w", method, peer, err)
	}
	return out, nil
}

// peerRemote is the pager's way to a page's home.
type peerRemote struct{ v *vm }

func (r *peerRemote) Fetch(ctx context.Context, host int, start uint64, dst []byte) error {
	return r.v.fetch(ctx, host, start, dst)
}

func (r *peerRemote) WriteBack(ctx context.Context, host int, gfns []uint64, data []byte) error {
	v := r.v
	_, err := v.a.peerPool.call(ctx, v.setup.Hosts[host], agentrpc.PeerWriteBack,
		agentrpc.WriteBackParams{VM: v.name, Incarnation: v.inc, GFNs: gfns}, data, nil)
	return err
}

// fetch reads len(dst) pages starting at start from their home host.
func (v *vm) fetch(ctx context.Context, host int, start uint64, dst []byte) error {
	count := uint64(len(dst) / api.PageSize)
	out, err := v.a.peerPool.call(ctx, v.setup.Hosts[host], agentrpc.PeerFetch,
		agentrpc.FetchParams{VM: v.name, Incarnation: v.inc, Start: start, Count: count}, nil, nil)
	if err != nil {
		return fmt.Errorf("pages %d-%d: %w", start, start+count-1, err)
	}
	if len(out) != len(dst) {
		return fmt.Errorf("pages %d-%d from %s: got %d bytes, want %d", start, start+count-1, v.setup.Hosts[host], len(out), len(dst))
	}
	copy(dst, out)
	return nil
}
