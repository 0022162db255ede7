package transport

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"dcres/internal/leakcheck"
)

// runSession runs cmd in a session and returns stdout, stderr and the exit
// status ("" cmd asks for a shell).
func runSession(t *testing.T, cl *ssh.Client, cmd string) (string, string, int, error) {
	t.Helper()
	s, err := cl.NewSession()
	if err != nil {
		return "", "", -1, err
	}
	defer s.Close()
	var out, errb bytes.Buffer
	s.Stdout, s.Stderr = &out, &errb
	if cmd == "" {
		err = s.Shell()
		if err == nil {
			err = s.Wait()
		}
	} else {
		err = s.Run(cmd)
	}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		return out.String(), errb.String(), ee.ExitStatus(), nil
	}
	if err != nil {
		return out.String(), errb.String(), -1, err
	}
	return out.String(), errb.String(), 0, nil
}

func sshDial(t *testing.T, addr string, host, key ssh.Signer) *ssh.Client {
	t.Helper()
	cl, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{User: "op", Auth: []ssh.AuthMethod{ssh.PublicKeys(key)}, HostKeyCallback: PinnedKey(host.PublicKey())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func TestExecWhitelistForOperators(t *testing.T) {
	leakcheck.Check(t)
	host, op, peer := newKey(t, "host"), newKey(t, "op"), newKey(t, "peer")
	auth := Authorizer([]AuthorizedKey{{Key: op.PublicKey(), Comment: "op"}}, map[string]ssh.PublicKey{"sub1": peer.PublicKey()})
	var ran []Identity
	exec := Commands(map[string]func(io.Writer){"dcres version": func(w io.Writer) { io.WriteString(w, "dcres test\n") }})
	stub := func(id Identity, cmd string, w io.Writer) int { ran = append(ran, id); return exec(id, cmd, w) }
	addr := startServer(t, ServerConfig{HostKey: host, Authorize: auth, Exec: stub}, rpcHandle)

	cl := sshDial(t, addr, host, op)
	out, _, code, err := runSession(t, cl, "dcres   version ")
	if err != nil || code != 0 || out != "dcres test\n" {
		t.Fatalf("dcres version: %q exit %d %v", out, code, err)
	}
	out, _, code, err = runSession(t, cl, "cat /etc/passwd")
	if err != nil || code != ExitRefused || !strings.Contains(out, "not a command") || !strings.Contains(out, "dcres version") {
		t.Fatalf("other command: %q exit %d %v", out, code, err)
	}
	_, stderr, code, err := runSession(t, cl, "")
	if err != nil || code != ExitNotShell || !strings.Contains(stderr, "not a shell") {
		t.Fatalf("shell: %q exit %d %v", stderr, code, err)
	}
	if len(ran) != 2 || ran[0].Role != RoleOperator || ran[0].Name != "op" {
		t.Fatalf("exec handler saw %+v", ran)
	}
	// dcres channels still work on the same server.
	dc, err := dial(t, addr, host, op)
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	if id := whoami(t, dc); id.Role != RoleOperator {
		t.Fatalf("rpc identity %+v", id)
	}

	// A peer may not open a session at all.
	pc := sshDial(t, addr, host, peer)
	_, _, _, err = runSession(t, pc, "dcres version")
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != ssh.Prohibited || !strings.Contains(oce.Message, "peers may not") {
		t.Fatalf("peer exec: %v", err)
	}
	if len(ran) != 2 {
		t.Fatalf("a peer reached the exec handler: %+v", ran)
	}
}

func TestAgentCommands(t *testing.T) {
	host := newKey(t, "host")
	run := AgentCommands("main", "1.2.3", host.PublicKey())
	var b bytes.Buffer
	if code := run(Identity{Role: RoleOperator}, "dcres info", &b); code != 0 ||
		!strings.Contains(b.String(), "name: main") || !strings.Contains(b.String(), "version: 1.2.3") ||
		!strings.Contains(b.String(), Fingerprint(host.PublicKey())) {
		t.Fatalf("info: %d %q", code, b.String())
	}
	b.Reset()
	if code := run(Identity{Role: RolePeer}, "dcres info", &b); code != ExitRefused {
		t.Fatalf("peer identity ran info: %d %q", code, b.String())
	}
}

// TestOpenSSHClientExec runs the OpenSSH client against the server: strict
// known_hosts, a key from ssh-keygen, `dcres info` and a refused command.
func TestOpenSSHClientExec(t *testing.T) {
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("ssh not installed (Debian package openssh-client)")
	}
	leakcheck.Check(t)
	dir := t.TempDir()
	host := newKey(t, "host")
	keyPath := filepath.Join(dir, "id")
	op, err := GenerateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	other, err := GenerateKey(filepath.Join(dir, "other"))
	if err != nil {
		t.Fatal(err)
	}
	auth := Authorizer([]AuthorizedKey{{Key: op.PublicKey(), Comment: "op"}}, nil)
	addr := startServer(t, ServerConfig{HostKey: host, Authorize: auth, Exec: AgentCommands("main", "t1", host.PublicKey())}, rpcHandle)
	known := filepath.Join(dir, "known_hosts")
	if err := AddKnownHost(known, addr, host.PublicKey()); err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(addr, ":")
	ssh := func(key, knownHosts string, cmd ...string) (string, string, int) {
		args := append([]string{"-F", "none", "-p", port, "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
			"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
			"-o", "ConnectTimeout=10", "op@127.0.0.1"}, cmd...)
		c := exec.Command(sshBin, args...)
		c.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
		var out, errb bytes.Buffer
		c.Stdout, c.Stderr = &out, &errb
		err := c.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	out, stderr, code := ssh(keyPath, known, "dcres", "info")
	if code != 0 || !strings.Contains(out, "name: main") || !strings.Contains(out, Fingerprint(host.PublicKey())) {
		t.Fatalf("ssh dcres info: exit %d\n%s\n%s", code, out, stderr)
	}
	out, stderr, code = ssh(keyPath, known, "rm", "-rf", "/")
	if code != ExitRefused || !strings.Contains(out, "not a command") {
		t.Fatalf("ssh rm: exit %d\n%s\n%s", code, out, stderr)
	}
	// A key that is not authorized is refused.
	_, stderr, code = ssh(filepath.Join(dir, "other"), known, "dcres", "version")
	if code != 255 || !strings.Contains(stderr, "Permission denied") {
		t.Fatalf("unauthorized key %s: exit %d: %s", Fingerprint(other.PublicKey()), code, stderr)
	}
	// An unknown host key is refused by OpenSSH's strict checking.
	empty := filepath.Join(dir, "empty_known_hosts")
	os.WriteFile(empty, nil, 0o600)
	_, stderr, code = ssh(keyPath, empty, "dcres", "version")
	if code != 255 || !strings.Contains(stderr, "Host key verification failed") {
		t.Fatalf("unknown host key: exit %d: %s", code, stderr)
	}
}
