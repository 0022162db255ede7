package transport

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
)

// newKey generates a key in the test's temp dir.
func newKey(t *testing.T, name string) ssh.Signer {
	t.Helper()
	s, err := GenerateKey(filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// onlyKeys authorizes the given signers' keys as operators named by index name.
func onlyKeys(named map[string]ssh.Signer) func(ssh.PublicKey) (Identity, bool) {
	var ops []AuthorizedKey
	for name, s := range named {
		ops = append(ops, AuthorizedKey{Key: s.PublicKey(), Comment: name})
	}
	return Authorizer(ops, nil)
}

// startServer serves on a loopback port until the test ends and returns the
// address; the cleanup checks that Serve returns.
func startServer(t *testing.T, cfg ServerConfig, handle func(context.Context, Identity, io.ReadWriteCloser)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(cfg).Serve(ctx, ln, handle) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// dial connects with a pinned host key and the given client keys.
func dial(t *testing.T, addr string, host ssh.Signer, keys ...ssh.Signer) (*Client, error) {
	t.Helper()
	return Dial(context.Background(), "tcp", addr, ClientConfig{User: "op", Signers: keys, HostKey: PinnedKey(host.PublicKey())})
}
