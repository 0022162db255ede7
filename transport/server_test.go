package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"dcres/internal/leakcheck"
	"dcres/rpc"

	"golang.org/x/crypto/ssh"
)

// rpcHandle serves "whoami" (the identity) and "echo" (the payload) over
// every channel, until the channel or the connection ends.
func rpcHandle(ctx context.Context, id Identity, ch io.ReadWriteCloser) {
	c := rpc.NewConn(ch, rpc.Options{Handler: func(ctx context.Context, req *rpc.Request) (any, []byte, error) {
		switch req.Method {
		case "whoami":
			return id, nil, nil
		case "echo":
			return nil, req.Payload, nil
		}
		return nil, nil, rpc.UnknownMethod(req.Method)
	}})
	select {
	case <-ctx.Done():
	case <-c.Done():
	}
	c.Close()
}

func whoami(t *testing.T, cl *Client) Identity {
	t.Helper()
	ch, err := cl.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := rpc.NewConn(ch, rpc.Options{})
	defer c.Close()
	var id Identity
	if _, err := c.Call(context.Background(), "whoami", nil, nil, &id); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestOperatorAcceptedAndBigPayloadOverSSH(t *testing.T) {
	leakcheck.Check(t)
	host, op := newKey(t, "host"), newKey(t, "op")
	addr := startServer(t, ServerConfig{HostKey: host, Authorize: onlyKeys(map[string]ssh.Signer{"alice@console": op})}, rpcHandle)
	cl, err := dial(t, addr, host, op)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	id := whoami(t, cl)
	if id.Role != RoleOperator || id.Name != "alice@console" || id.Fingerprint != Fingerprint(op.PublicKey()) {
		t.Fatalf("identity %+v", id)
	}

	ch, err := cl.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := rpc.NewConn(ch, rpc.Options{})
	defer c.Close()
	big := make([]byte, 32<<20)
	for i := range big {
		big[i] = byte(i>>12) ^ byte(i)
	}
	got, err := c.Call(context.Background(), "echo", nil, big, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, big) {
		t.Fatal("32 MiB payload differs after the SSH round trip")
	}
}

func TestUnauthorizedKeyRefused(t *testing.T) {
	leakcheck.Check(t)
	host, op, stranger := newKey(t, "host"), newKey(t, "op"), newKey(t, "stranger")
	addr := startServer(t, ServerConfig{HostKey: host, Authorize: onlyKeys(map[string]ssh.Signer{"op": op})}, rpcHandle)
	cl, err := dial(t, addr, host, stranger)
	if err == nil {
		cl.Close()
		t.Fatal("stranger's key accepted")
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), Fingerprint(stranger.PublicKey())) ||
		!strings.Contains(err.Error(), "authorized keys") {
		t.Fatalf("unhelpful error: %v", err)
	}
}

// offerOnlySigner offers a key it has no private half for. The server
// accepts the offer (its callback sees the key), then gets a signature of a
// format that does not fit the key, which it refuses without hanging up, so
// the client goes on to its next key: the CVE-2024-45337 sequence.
type offerOnlySigner struct{ offered ssh.PublicKey }

func (s offerOnlySigner) PublicKey() ssh.PublicKey { return s.offered }
func (s offerOnlySigner) Sign(r io.Reader, data []byte) (*ssh.Signature, error) {
	return &ssh.Signature{Format: ssh.KeyAlgoRSASHA256, Blob: make([]byte, 64)}, nil
}

// TestIdentityIsTheSigningKey is the CVE-2024-45337 regression: a client
// offers the authorized key A (without its private key) and then
// authenticates with B. The identity must be B's, or the login refused.
func TestIdentityIsTheSigningKey(t *testing.T) {
	leakcheck.Check(t)
	host, a, b := newKey(t, "host"), newKey(t, "a"), newKey(t, "b")
	fakeA := offerOnlySigner{offered: a.PublicKey()}
	var seen []string // keys the server's Authorize was asked about
	var mu sync.Mutex
	authorize := func(keys map[string]ssh.Signer) func(ssh.PublicKey) (Identity, bool) {
		inner := onlyKeys(keys)
		return func(k ssh.PublicKey) (Identity, bool) {
			mu.Lock()
			seen = append(seen, Fingerprint(k))
			mu.Unlock()
			return inner(k)
		}
	}

	t.Run("B authorized", func(t *testing.T) {
		addr := startServer(t, ServerConfig{HostKey: host, Authorize: authorize(map[string]ssh.Signer{"A": a, "B": b})}, rpcHandle)
		cl, err := dial(t, addr, host, fakeA, b)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if id := whoami(t, cl); id.Name != "B" || id.Fingerprint != Fingerprint(b.PublicKey()) {
			t.Fatalf("identity %+v, want B's", id)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(seen) == 0 || seen[0] != Fingerprint(a.PublicKey()) {
			t.Fatalf("the test did not make the server consider A first: %v", seen)
		}
	})
	t.Run("B not authorized", func(t *testing.T) {
		addr := startServer(t, ServerConfig{HostKey: host, Authorize: authorize(map[string]ssh.Signer{"A": a})}, rpcHandle)
		cl, err := dial(t, addr, host, fakeA, b)
		if err == nil {
			id := whoami(t, cl)
			cl.Close()
			t.Fatalf("logged in as %+v without A's private key", id)
		}
	})
}

func TestSessionChannelRefused(t *testing.T) {
	leakcheck.Check(t)
	host, op := newKey(t, "host"), newKey(t, "op")
	addr := startServer(t, ServerConfig{HostKey: host, Authorize: onlyKeys(map[string]ssh.Signer{"op": op})}, rpcHandle)
	cl, err := dial(t, addr, host, op)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	_, err = cl.Exec(context.Background(), "dcres agent --stdio")
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) && !strings.Contains(err.Error(), "not a shell") {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(err.Error(), "not a shell") {
		t.Fatalf("refusal does not explain itself: %v", err)
	}
}

func TestHandshakeTimeoutDropsSilentClient(t *testing.T) {
	leakcheck.Check(t)
	host := newKey(t, "host")
	addr := startServer(t, ServerConfig{HostKey: host, Authorize: onlyKeys(nil), HandshakeTimeout: 200 * time.Millisecond}, rpcHandle)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	start := time.Now()
	_, err = io.Copy(io.Discard, conn) // the server's banner, then EOF when dropped
	if err != nil || time.Since(start) > 2*time.Second {
		t.Fatalf("silent client not dropped: %v after %v", err, time.Since(start))
	}
}

func TestServerNeedsKeyAndAuthorize(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = NewServer(ServerConfig{}).Serve(context.Background(), ln, rpcHandle)
	if err == nil || !strings.Contains(err.Error(), "HostKey and Authorize") {
		t.Fatalf("got %v", err)
	}
}

func TestServeEndsConnectionsOnCancel(t *testing.T) {
	leakcheck.Check(t)
	host, op := newKey(t, "host"), newKey(t, "op")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- NewServer(ServerConfig{HostKey: host, Authorize: onlyKeys(map[string]ssh.Signer{"op": op})}).Serve(ctx, ln, rpcHandle)
	}()
	cl, err := dial(t, ln.Addr().String(), host, op)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ch, err := cl.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := rpc.NewConn(ch, rpc.Options{})
	defer c.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	select {
	case <-c.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("client channel still open after the server stopped")
	}
}
