package transport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"dcres/internal/leakcheck"

	"golang.org/x/crypto/ssh"
)

func TestUnknownHostKeyRefusedThenTrusted(t *testing.T) {
	leakcheck.Check(t)
	host, op := newKey(t, "host"), newKey(t, "op")
	addr := startServer(t, ServerConfig{HostKey: host, Authorize: onlyKeys(map[string]ssh.Signer{"op": op})}, rpcHandle)
	kh := filepath.Join(t.TempDir(), "ssh", "known_hosts")
	cb, err := KnownHosts(kh) // missing file: every host is unknown
	if err != nil {
		t.Fatal(err)
	}
	_, err = Dial(context.Background(), "tcp", addr, ClientConfig{User: "op", Signers: []ssh.Signer{op}, HostKey: cb})
	var hke *HostKeyError
	if !errors.As(err, &hke) || len(hke.Known) != 0 {
		t.Fatalf("got %v, want an unknown-host error", err)
	}
	_, port, _ := net.SplitHostPort(addr)
	msg := err.Error()
	for _, want := range []string{"[127.0.0.1]:" + port, "ssh-ed25519", Fingerprint(host.PublicKey()), "dcres trust", "ssh-keyscan -p " + port} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}

	if err := AddKnownHost(kh, addr, host.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(kh); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("known_hosts mode: %v %v", fi.Mode(), err)
	}
	cb, err = KnownHosts(kh)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := Dial(context.Background(), "tcp", addr, ClientConfig{User: "op", Signers: []ssh.Signer{op}, HostKey: cb})
	if err != nil {
		t.Fatal(err)
	}
	if id := whoami(t, cl); id.Name != "op" {
		t.Fatalf("identity %+v", id)
	}
	cl.Close()
}

func TestChangedHostKeyRefused(t *testing.T) {
	leakcheck.Check(t)
	host, old, op := newKey(t, "host"), newKey(t, "old"), newKey(t, "op")
	addr := startServer(t, ServerConfig{HostKey: host, Authorize: onlyKeys(map[string]ssh.Signer{"op": op})}, rpcHandle)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	// A file whose last line lacks its newline, to check that appending
	// starts a fresh line.
	if err := os.WriteFile(kh, []byte("# hosts"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := AddKnownHost(kh, addr, old.PublicKey()); err != nil {
		t.Fatal(err)
	}
	cb, err := KnownHosts(kh)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Dial(context.Background(), "tcp", addr, ClientConfig{User: "op", Signers: []ssh.Signer{op}, HostKey: cb})
	if err == nil {
		t.Fatal("changed host key accepted")
	}
	msg := err.Error()
	for _, want := range []string{"CHANGED", "attack", Fingerprint(host.PublicKey()), Fingerprint(old.PublicKey()), kh + ":2"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
}

func TestPinnedKey(t *testing.T) {
	leakcheck.Check(t)
	host, other, op := newKey(t, "host"), newKey(t, "other"), newKey(t, "op")
	addr := startServer(t, ServerConfig{HostKey: host, Authorize: onlyKeys(map[string]ssh.Signer{"op": op})}, rpcHandle)
	cl, err := dial(t, addr, host, op)
	if err != nil {
		t.Fatal(err)
	}
	cl.Close()
	_, err = dial(t, addr, other, op)
	if err == nil || !strings.Contains(err.Error(), "pinned key is ssh-ed25519 "+Fingerprint(other.PublicKey())) ||
		!strings.Contains(err.Error(), Fingerprint(host.PublicKey())) {
		t.Fatalf("got %v", err)
	}
}

func TestDialErrorsNameTheAddress(t *testing.T) {
	leakcheck.Check(t)
	op := newKey(t, "op")
	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	_, err = Dial(context.Background(), "tcp", closed, ClientConfig{Signers: []ssh.Signer{op}, HostKey: PinnedKey(op.PublicKey())})
	if err == nil || !strings.Contains(err.Error(), "connection refused: is the dcres agent running on "+closed) {
		t.Fatalf("got %v", err)
	}

	// A server that accepts and never speaks.
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	})
	_, err = Dial(context.Background(), "tcp", ln.Addr().String(), ClientConfig{
		Signers: []ssh.Signer{op}, HostKey: PinnedKey(op.PublicKey()), DialTimeout: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "handshake timed out after 200ms") || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("got %v", err)
	}
	ln.Close()

	_, err = Dial(context.Background(), "tcp", closed, ClientConfig{Signers: []ssh.Signer{op}})
	if err == nil || !strings.Contains(err.Error(), "KnownHosts") {
		t.Fatalf("missing host key check: %v", err)
	}
}

// startExecServer runs a minimal SSH server that serves one session exec:
// it upper-cases stdin to stdout until EOF, writes "bye" to stderr, and
// reports the exit status. It stands in for OpenSSH's sshd.
func startExecServer(t *testing.T, host ssh.Signer, client ssh.PublicKey) (string, <-chan string) {
	t.Helper()
	conf := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if bytes.Equal(k.Marshal(), client.Marshal()) {
			return nil, nil
		}
		return nil, errors.New("no")
	}}
	conf.AddHostKey(host)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cmds := make(chan string, 1)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		sc, chans, reqs, err := ssh.NewServerConn(conn, conf)
		if err != nil {
			return
		}
		defer sc.Close()
		wg.Go(func() { ssh.DiscardRequests(reqs) })
		for nc := range chans {
			ch, chReqs, err := nc.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				for req := range chReqs {
					if req.Type != "exec" {
						req.Reply(false, nil)
						continue
					}
					var p struct{ Command string }
					ssh.Unmarshal(req.Payload, &p)
					cmds <- p.Command
					req.Reply(true, nil)
					wg.Go(func() {
						sc := bufio.NewScanner(ch)
						for sc.Scan() {
							fmt.Fprintln(ch, strings.ToUpper(sc.Text()))
						}
						fmt.Fprint(ch.Stderr(), "bye")
						ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
						ch.Close()
					})
				}
			})
		}
	})
	return ln.Addr().String(), cmds
}

func TestExecStreamsStdio(t *testing.T) {
	leakcheck.Check(t)
	host, op := newKey(t, "host"), newKey(t, "op")
	addr, cmds := startExecServer(t, host, op.PublicKey())
	cl, err := dial(t, addr, host, op)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	s, err := cl.Exec(context.Background(), "dcres agent --stdio")
	if err != nil {
		t.Fatal(err)
	}
	if got := <-cmds; got != "dcres agent --stdio" {
		t.Fatalf("server ran %q", got)
	}
	r := bufio.NewReader(s)
	for _, line := range []string{"hello", "pages"} {
		fmt.Fprintln(s, line)
		got, err := r.ReadString('\n')
		if err != nil || got != strings.ToUpper(line)+"\n" {
			t.Fatalf("got %q %v", got, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if es := s.(*ExecStream); !strings.Contains(es.Stderr(), "bye") {
		t.Fatalf("stderr %q", es.Stderr())
	}
}

func TestOpenHonoursCanceledContext(t *testing.T) {
	leakcheck.Check(t)
	host, op := newKey(t, "host"), newKey(t, "op")
	addr := startServer(t, ServerConfig{HostKey: host, Authorize: onlyKeys(map[string]ssh.Signer{"op": op})}, rpcHandle)
	cl, err := dial(t, addr, host, op)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ch, err := cl.Open(ctx); err == nil {
		ch.Close() // the open may win the race; that is fine too
	} else if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}
