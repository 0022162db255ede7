package faults

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"dcres/agentrpc"
	"dcres/api"
	"dcres/hostagent"
	"dcres/rpc"
	"dcres/transport"
)

// agentUnderTest is a real agent (hostagent.New + Serve) on a loopback
// listener, with an operator key.
type agentUnderTest struct {
	addr string
	host ssh.PublicKey
	op   ssh.Signer
}

func startAgent(t *testing.T) agentUnderTest {
	t.Helper()
	dir := t.TempDir()
	op, err := transport.GenerateKey(filepath.Join(dir, "op"))
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o700)
	if err := os.WriteFile(filepath.Join(data, "authorized_keys"), ssh.MarshalAuthorizedKey(op.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := hostagent.New(hostagent.Config{Name: "main", DataDir: data, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return agentUnderTest{addr: ln.Addr().String(), host: a.HostKey(), op: op}
}

// connect opens an rpc connection to the agent with key.
func (a agentUnderTest) connect(t *testing.T, key ssh.Signer) (*rpc.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := transport.Dial(ctx, "tcp", a.addr, transport.ClientConfig{User: "t", Signers: []ssh.Signer{key}, HostKey: transport.PinnedKey(a.host)})
	if err != nil {
		return nil, err
	}
	ch, err := cl.Open(ctx)
	if err != nil {
		cl.Close()
		return nil, err
	}
	c := rpc.NewConn(ch, rpc.Options{})
	t.Cleanup(func() { c.Close(); cl.Close() })
	return c, nil
}

func setup(vm string, peers []agentrpc.Peer) agentrpc.SetupParams {
	const pages = 1024
	return agentrpc.SetupParams{
		VM: vm, Incarnation: 1, Main: "main", Driver: "synthetic", MemoryBytes: pages * api.PageSize, CacheBytes: 64 * api.PageSize,
		Hosts: []string{"main"}, Locations: []api.Range{{Start: 0, Count: pages, Host: "main"}}, Peers: peers,
		Workload: agentrpc.Workload{Pattern: "hotcold", DirtyRate: 1 << 20, ReadRate: 1 << 20, Seed: 1, HotFraction: 0.1},
	}
}

// TestIntegrationFaultPeerScope: a peer introduced for VM a cannot read or
// write pages, or read pieces, of VM b; an unknown key gets nothing.
func TestIntegrationFaultPeerScope(t *testing.T) {
	integration(t)
	ag := startAgent(t)
	dir := t.TempDir()
	peerKey, _ := transport.GenerateKey(filepath.Join(dir, "peer"))
	stranger, _ := transport.GenerateKey(filepath.Join(dir, "stranger"))
	op, err := ag.connect(t, ag.op)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := ctxT(20 * time.Second)
	defer cancel()
	peer := agentrpc.Peer{Name: "sub1", Addr: "127.0.0.1:1", HostKey: string(ssh.MarshalAuthorizedKey(peerKey.PublicKey()))}
	for _, p := range []agentrpc.SetupParams{setup("a", []agentrpc.Peer{peer}), setup("b", nil)} {
		if _, err := op.Call(ctx, agentrpc.Setup, p, nil, nil); err != nil {
			t.Fatalf("setup %s: %v", p.VM, err)
		}
	}

	if _, err := ag.connect(t, stranger); err == nil {
		t.Fatalf("a key nobody introduced connected: %v", err)
	}

	pc, err := ag.connect(t, peerKey)
	if err != nil {
		t.Fatalf("introduced peer: %v", err)
	}
	// VM a: allowed (an answer, whatever its content).
	if _, err := pc.Call(ctx, agentrpc.PeerFetch, agentrpc.FetchParams{VM: "a", Incarnation: 1, Start: 0, Count: 1}, nil, nil); err != nil && strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("fetch of VM a forbidden to its peer: %v", err)
	}
	calls := []struct {
		method string
		params any
		pay    []byte
	}{
		{agentrpc.PeerFetch, agentrpc.FetchParams{VM: "b", Incarnation: 1, Start: 0, Count: 1}, nil},
		{agentrpc.PeerWriteBack, agentrpc.WriteBackParams{VM: "b", Incarnation: 1, GFNs: []uint64{0}}, make([]byte, api.PageSize)},
		{agentrpc.PeerPiece, agentrpc.PieceParams{VM: "b", ID: "x", Ranges: []api.Range{{Start: 0, Count: 1}}}, nil},
		{agentrpc.Setup, setup("c", nil), nil}, // operator methods are not for peers
	}
	for _, c := range calls {
		_, err := pc.Call(ctx, c.method, c.params, c.pay, nil)
		if err == nil || !strings.Contains(err.Error(), "forbidden") && !strings.Contains(err.Error(), "unknown method") {
			t.Errorf("peer of a called %s for b: %v (want forbidden)", c.method, err)
		}
	}
}

// TestIntegrationFaultNamesNeverEscape: names like ../x in RPCs are refused.
func TestIntegrationFaultNamesNeverEscape(t *testing.T) {
	integration(t)
	ag := startAgent(t)
	op, err := ag.connect(t, ag.op)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := ctxT(20 * time.Second)
	defer cancel()
	if _, err := op.Call(ctx, agentrpc.Setup, setup("ok", nil), nil, nil); err != nil {
		t.Fatal(err)
	}
	bad := []string{"../x", "..", "a/b", "/etc", ""}
	for _, name := range bad {
		if _, err := op.Call(ctx, agentrpc.Setup, setup(name, nil), nil, nil); err == nil || !strings.Contains(err.Error(), " name ") {
			t.Errorf("vm.setup of VM name %q: %v (want a name refusal)", name, err)
		}
		for _, m := range []string{agentrpc.Save, agentrpc.VerifyPiece, agentrpc.Delete} {
			var params any = agentrpc.CkptParams{VM: "ok", ID: name}
			switch m {
			case agentrpc.Save:
				params = agentrpc.SaveParams{VM: "ok", ID: name, Method: "dcres"}
			}
			if _, err := op.Call(ctx, m, params, nil, nil); err == nil || !strings.Contains(err.Error(), " name ") {
				t.Errorf("%s with checkpoint id %q: %v (want a name refusal)", m, name, err)
			}
		}
	}
}
