package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"dcres/ckpt"
	"dcres/hostagent"
	"dcres/transport"
)

// These tests use the real OpenSSH programs: sshd (Debian package
// openssh-server) starting `dcres agent --stdio` for the coordinator, and the
// ssh client against the agent's own SSH server. All keys are made by the
// test; sshd runs with a generated config on loopback ports, without PAM.

// requireSSHD returns sshd's path, or skips: DCRES_REQUIRE_SSHD=1 (CI)
// makes a missing sshd a failure.
func requireSSHD(t *testing.T) string {
	t.Helper()
	why := ""
	path, err := exec.LookPath("sshd")
	if err != nil {
		path = "/usr/sbin/sshd" // not on a non-root PATH
		if _, err := os.Stat(path); err != nil {
			why = "sshd is not installed (Debian package openssh-server)"
		}
	}
	if why == "" && os.Geteuid() != 0 {
		why = "sshd needs root here (privilege separation)"
	}
	if why == "" {
		if _, err := exec.LookPath("ssh"); err != nil {
			why = "ssh is not installed (Debian package openssh-client)"
		}
	}
	if why != "" {
		if os.Getenv("DCRES_REQUIRE_SSHD") == "1" {
			t.Fatalf("DCRES_REQUIRE_SSHD=1 but %s", why)
		}
		t.Skipf("%s (set DCRES_REQUIRE_SSHD=1 to make this a failure)", why)
	}
	return path
}

// privsepOnce makes sshd's privilege separation directory if the system has
// none (a machine where the sshd service never ran); it is removed when the
// test ends, if the test made it and it is empty.
var privsepMu sync.Mutex

func privsepDir(t *testing.T) {
	t.Helper()
	const dir = "/run/sshd"
	privsepMu.Lock()
	defer privsepMu.Unlock()
	if _, err := os.Stat(dir); err == nil {
		return
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("sshd's privilege separation directory: %v", err)
	}
	t.Cleanup(func() { os.Remove(dir) })
}

// sshdServer is one OpenSSH sshd on a loopback port.
type sshdServer struct {
	addr    string
	hostKey ssh.PublicKey
	log     *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startSSHD runs sshd in dir with authorizedKeys as its only authorized
// keys file, allowing login as the current user by public key only.
func startSSHD(t *testing.T, sshdPath, dir, authorizedKeys string) *sshdServer {
	t.Helper()
	privsepDir(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	hk, err := transport.GenerateKey(filepath.Join(dir, "ssh_host_ed25519_key"))
	if err != nil {
		t.Fatal(err)
	}
	ak := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(ak, []byte(authorizedKeys), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 0; ; attempt++ {
		port := freePort(t)
		addr := net.JoinHostPort("127.0.0.1", port)
		conf := fmt.Sprintf(`ListenAddress %s
HostKey %s
AuthorizedKeysFile %s
AuthorizedPrincipalsFile none
PidFile none
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers %s
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTTY no
LoginGraceTime 20
LogLevel VERBOSE
`, addr, filepath.Join(dir, "ssh_host_ed25519_key"), ak, u.Username)
		cfgPath := filepath.Join(dir, "sshd_config")
		if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(sshdPath, "-t", "-f", cfgPath).CombinedOutput(); err != nil {
			t.Fatalf("sshd -t: %v: %s", err, out)
		}
		log := &syncBuffer{}
		cmd := exec.Command(sshdPath, "-D", "-e", "-f", cfgPath)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(log.String(), "Server listening on") && time.Now().Before(deadline) {
			select {
			case <-exited:
				deadline = time.Now()
			case <-time.After(20 * time.Millisecond):
			}
		}
		if strings.Contains(log.String(), "Server listening on") {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("sshd %s log:\n%s", filepath.Base(dir), log.String())
				}
			})
			return &sshdServer{addr: addr, hostKey: hk.PublicKey(), log: log}
		}
		stop()
		if attempt == 2 || !strings.Contains(log.String(), "in use") {
			t.Fatalf("sshd did not start:\n%s", log.String())
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// processesUnder lists the processes whose command line names dir.
func processesUnder(dir string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(dir)) {
			continue
		}
		out = append(out, filepath.Base(filepath.Dir(p))+": "+strings.ReplaceAll(string(bytes.TrimRight(b, "\x00")), "\x00", " "))
	}
	return out
}

// TestE2EOpenSSHStdioAgents drives a whole scenario (checkpoint, verify,
// a traditional checkpoint over the peer links, restore, verify) against
// three agents that OpenSSH's sshd starts in --stdio mode: main's through a
// forced command in authorized_keys, sub1's and sub2's by the profile's
// command (with --name and --data added from the profile).
func TestE2EOpenSSHStdioAgents(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs sshd and agent processes")
	}
	sshdPath := requireSSHD(t)
	bin := dcresBinary(t)
	dir := t.TempDir()
	op, err := transport.GenerateKey(filepath.Join(dir, "operator"))
	if err != nil {
		t.Fatal(err)
	}
	opLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(op.PublicKey())))
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	known := filepath.Join(dir, "known_hosts")
	servers := map[string]*sshdServer{}
	for _, h := range []string{"main", "sub1", "sub2"} {
		line := "restrict " + opLine + " operator\n"
		if h == "main" {
			// The way to deploy it: the key may run the agent and nothing else.
			forced := fmt.Sprintf("%s agent --stdio --name main --data %s --listen 127.0.0.1:0 --lease 5s", bin, filepath.Join(dir, "data", "main"))
			line = fmt.Sprintf("restrict,command=%q %s operator\n", forced, opLine)
		}
		servers[h] = startSSHD(t, sshdPath, filepath.Join(dir, "sshd-"+h), line)
		if err := transport.AddKnownHost(known, servers[h].addr, servers[h].hostKey); err != nil {
			t.Fatal(err)
		}
	}
	var hosts strings.Builder
	for _, h := range []string{"main", "sub1", "sub2"} {
		cmd := fmt.Sprintf("%s agent --stdio --listen 127.0.0.1:0 --lease 5s", bin)
		if h == "main" {
			cmd = "dcres agent --stdio" // sshd runs the forced command instead
		}
		fmt.Fprintf(&hosts, "  - {name: %s, address: %q, user: %s, key: %q, data: %q, command: %q}\n",
			h, servers[h].addr, u.Username, filepath.Join(dir, "operator"), filepath.Join(dir, "data", h), cmd)
	}
	prof := fmt.Sprintf(`name: sshd-stdio
known_hosts: %q
hosts:
%svm:
  name: vm1
  driver: synthetic
  memory: 32MiB
  split: {main: 50%%, sub1: 25%%, sub2: 25%%}
  workload: {pattern: hotcold, dirty_rate: 8MiB/s, seed: 5}
scenario:
  - run: 1s
  - checkpoint: {method: dcres}
  - verify: {checkpoint: last}
  - checkpoint: {method: traditional}
  - restore: {from: last-dcres}
  - run: 1s
  - verify: {}
`, known, hosts.String())
	path := filepath.Join(dir, "sshd-stdio.yaml")
	if err := os.WriteFile(path, []byte(prof), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := runJSON(t, path, 3*time.Minute)
	if err != nil || !out.summary.OK {
		t.Fatalf("dcres run through sshd: %v\nstderr: %s\nsummary: %+v", err, out.stderr, out.summary)
	}
	t.Logf("scenario through sshd: %d steps in %v", len(out.summary.Steps), time.Since(start).Round(time.Millisecond))
	var dcresID string
	for _, st := range out.summary.Steps {
		switch {
		case st.Step == "checkpoint" && st.Method == "dcres":
			dcresID = st.ID
			if len(st.PerHost) != 3 || st.BytesOverNetwork == nil || *st.BytesOverNetwork != 0 {
				t.Errorf("dcres checkpoint: %+v", st)
			}
		case st.Step == "checkpoint" && st.Method == "traditional":
			// Gathering the sub-hosts' pages uses the peer links, at the
			// addresses the agents reported through sshd.
			if st.BytesOverNetwork == nil || *st.BytesOverNetwork != 16<<20 {
				t.Errorf("traditional checkpoint over peer links: %+v", st)
			}
		case st.Step == "verify":
			if st.Errors == nil || *st.Errors != 0 {
				t.Errorf("verify: %+v", st)
			}
		}
	}
	if dcresID == "" {
		t.Fatalf("no dcres checkpoint in %+v", out.summary.Steps)
	}
	for _, h := range []string{"main", "sub1", "sub2"} {
		m, err := ckpt.Store{Root: hostagent.CheckpointRoot(filepath.Join(dir, "data", h))}.Load("vm1", dcresID)
		if err != nil || m.ID != dcresID {
			t.Errorf("host %s: manifest of %s: %v", h, dcresID, err)
		}
		log := servers[h].log.String()
		if !strings.Contains(log, "Accepted publickey for "+u.Username) {
			t.Errorf("sshd of %s did not log the operator's login:\n%s", h, log)
		}
		if h == "main" && !strings.Contains(log, "forced-command") {
			t.Errorf("sshd of main did not run the forced command:\n%s", log)
		}
	}
	// An agent behind sshd lives as long as its session: none is left.
	deadline := time.Now().Add(10 * time.Second)
	for len(processesUnder(filepath.Join(dir, "data"))) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if left := processesUnder(filepath.Join(dir, "data")); len(left) > 0 {
		t.Errorf("agents still running after the session ended: %v", left)
	}

	// A key sshd does not know is refused, with our key's fingerprint.
	other, err := transport.GenerateKey(filepath.Join(dir, "stranger"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", path, "--json", "--key", filepath.Join(dir, "stranger"))
	msg, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "refused") || !strings.Contains(string(msg), transport.Fingerprint(other.PublicKey())) {
		t.Errorf("a stranger's key: %v\n%s", err, msg)
	}
	// A host key that is not the one in known_hosts is refused.
	if err := os.WriteFile(known, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"main", "sub1", "sub2"} {
		if err := transport.AddKnownHost(known, servers[h].addr, other.PublicKey()); err != nil {
			t.Fatal(err)
		}
	}
	msg, err = exec.Command(bin, "run", path, "--json").CombinedOutput()
	if err == nil || !strings.Contains(string(msg), transport.Fingerprint(servers["main"].hostKey)) &&
		!strings.Contains(string(msg), transport.Fingerprint(servers["sub1"].hostKey)) &&
		!strings.Contains(string(msg), transport.Fingerprint(servers["sub2"].hostKey)) {
		t.Errorf("changed host keys: %v\n%s", err, msg)
	}
}

// TestE2EOpenSSHClientToAgent: the OpenSSH client against a real agent's
// own SSH server: `ssh -p PORT host dcres info` and `dcres version` work for
// an authorized operator; another command, a shell and a stranger's key are
// refused.
func TestE2EOpenSSHClientToAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs an agent process")
	}
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		if os.Getenv("DCRES_REQUIRE_SSHD") == "1" {
			t.Fatal("DCRES_REQUIRE_SSHD=1 but ssh is not installed")
		}
		t.Skip("ssh not installed (Debian package openssh-client)")
	}
	bin := dcresBinary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "main")
	op, err := transport.GenerateKey(filepath.Join(dir, "operator"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := transport.GenerateKey(filepath.Join(dir, "stranger")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(data, 0o700)
	if err := os.WriteFile(filepath.Join(data, "authorized_keys"), ssh.MarshalAuthorizedKey(op.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	agent := exec.Command(bin, "agent", "--name", "main", "--data", data, "--listen", "127.0.0.1:0")
	var alog syncBuffer
	agent.Stdout, agent.Stderr = &alog, &alog
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { agent.Wait(); close(exited) }()
	t.Cleanup(func() {
		agent.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			agent.Process.Kill()
			<-exited
		}
	})
	var addr string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(hostagent.AddrFile(data)); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			addr = strings.TrimSpace(string(b))
			break
		}
	}
	if addr == "" {
		t.Fatalf("the agent did not start:\n%s", alog.String())
	}
	hk, err := transport.LoadOrCreateHostKey(hostagent.HostKeyPath(data))
	if err != nil {
		t.Fatal(err)
	}
	known := filepath.Join(dir, "known_hosts")
	if err := transport.AddKnownHost(known, addr, hk.PublicKey()); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	run := func(key string, cmd ...string) (string, string, int) {
		args := append([]string{"-F", "none", "-p", port, "-i", filepath.Join(dir, key), "-o", "IdentitiesOnly=yes",
			"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + known,
			"-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "-T", "operator@127.0.0.1"}, cmd...)
		c := exec.Command(sshBin, args...)
		c.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
		var o, e bytes.Buffer
		c.Stdout, c.Stderr = &o, &e
		err := c.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return o.String(), e.String(), code
	}
	if o, e, code := run("operator", "dcres", "info"); code != 0 || !strings.Contains(o, "name: main") ||
		!strings.Contains(o, transport.Fingerprint(hk.PublicKey())) {
		t.Errorf("ssh dcres info: exit %d\n%s%s", code, o, e)
	}
	if o, e, code := run("operator", "dcres", "version"); code != 0 || !strings.HasPrefix(o, "dcres ") {
		t.Errorf("ssh dcres version: exit %d\n%s%s", code, o, e)
	}
	if o, e, code := run("operator", "cat", "/etc/passwd"); code != transport.ExitRefused || !strings.Contains(o, "not a command") {
		t.Errorf("ssh cat: exit %d\n%s%s", code, o, e)
	}
	if o, e, code := run("operator"); code != transport.ExitNotShell || !strings.Contains(o+e, "not a shell") {
		t.Errorf("ssh (a shell): exit %d\n%s%s", code, o, e)
	}
	if _, e, code := run("stranger", "dcres", "info"); code != 255 || !strings.Contains(e, "Permission denied") {
		t.Errorf("a stranger's key: exit %d: %s", code, e)
	}
}
