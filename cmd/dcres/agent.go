package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"dcres/hostagent"
)

type stdio struct{}

func (stdio) Read(p []byte) (int, error)  { return os.Stdin.Read(p) }
func (stdio) Write(p []byte) (int, error) { return os.Stdout.Write(p) }
func (stdio) Close() error                { return os.Stdin.Close() }

func cmdAgent(ctx context.Context, args []string) error {
	fs := newFlags("agent", "", "Run a host agent: an SSH server that serves the dcres RPC to the operator keys in\nits authorized keys file and to the peers the operator introduces.")
	name := fs.String("name", "", "this host's name in profiles (main, sub1, ...)")
	data := fs.String("data", "", "data directory: host key, authorized_keys, checkpoints")
	listen := fs.String("listen", "127.0.0.1:2222", "address to listen on (port 0 picks one, written to DATA/listen.addr)")
	authorized := fs.String("authorized-keys", "", "operator public keys (default DATA/authorized_keys)")
	lease := fs.Duration("lease", 30*time.Second, "resume a paused guest after this long without its coordinator")
	useStdio := fs.Bool("stdio", false, "serve one operator on standard input and output (behind OpenSSH's sshd); peers still use --listen")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *name == "" || *data == "" {
		return usagef("--name and --data are required")
	}
	logger := log.New(os.Stderr, "agent "+*name+": ", log.LstdFlags|log.Lmicroseconds)
	keys := *authorized
	if *useStdio && keys == "" {
		if _, err := os.Stat(filepath.Join(*data, "authorized_keys")); errors.Is(err, os.ErrNotExist) {
			// Behind sshd, sshd authenticates operators; the listener then
			// serves introduced peers only.
			keys = os.DevNull
			logger.Printf("no %s: operators reach this agent only through sshd (--stdio)", filepath.Join(*data, "authorized_keys"))
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another agent running there?)", *listen, err)
	}
	a, err := hostagent.New(hostagent.Config{Name: *name, DataDir: *data, AuthorizedKeys: keys, Lease: *lease,
		PeerAddr: ln.Addr().String(), Logf: logger.Printf})
	if err != nil {
		ln.Close()
		return err
	}
	if err := writeAddr(*data, ln.Addr().String()); err != nil {
		ln.Close()
		return err
	}
	logger.Printf("listening on %s", ln.Addr())
	if *useStdio {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		errc := make(chan error, 1)
		go func() { errc <- a.Serve(ctx, ln) }()
		a.ServeStdio(ctx, stdio{})
		cancel()
		return <-errc
	}
	return a.Serve(ctx, ln)
}

// writeAddr records the listen address atomically: a reader sees all or nothing.
func writeAddr(dataDir, addr string) error {
	path := hostagent.AddrFile(dataDir)
	tmp := filepath.Join(dataDir, ".listen.addr.tmp")
	if err := os.WriteFile(tmp, []byte(addr+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
