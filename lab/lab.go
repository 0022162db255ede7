package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"dcres/hostagent"
	"dcres/orchestrator"
	"dcres/profiles"
	"dcres/transport"
)

// Options tune a lab.
type Options struct {
	// Dir holds the lab's keys and agents' data; "" makes a temporary one
	// that Close removes.
	Dir string
	// Binary is the dcres executable to run agents with (default: this one).
	Binary string
	// Lease is passed to the agents (0: their default).
	Lease time.Duration
	Logf  func(format string, args ...any)
}

// Lab is a running local lab.
type Lab struct {
	Dir        string
	Hosts      []orchestrator.HostSpec
	Signer     ssh.Signer
	KnownHosts string
	// Netns reports that every agent runs in its own network namespace
	// behind a bridge; Note says why not when the profile asked for it
	// (e.g. "network namespaces need root"), for commands to print.
	Netns bool
	Note  string

	temp   bool
	agents []*agentProc
	netns  *netnsPlan // nil for a loopback lab
	logf   func(string, ...any)
}

type agentProc struct {
	name string
	data string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// State is what a running lab writes to Dir/lab.json, so that other dcres
// commands can reach its agents.
type State struct {
	Profile    string                  `json:"profile"`
	Hosts      []orchestrator.HostSpec `json:"hosts"`
	Key        string                  `json:"key"`
	KnownHosts string                  `json:"known_hosts"`
	PID        int                     `json:"pid"`
	Netns      bool                    `json:"netns,omitempty"`
	Note       string                  `json:"note,omitempty"`
}

// StateFile is where a lab in dir records its State.
func StateFile(dir string) string { return filepath.Join(dir, "lab.json") }

// Start spawns the profile's lab agents and waits until each listens.
func Start(ctx context.Context, prof *profiles.Profile, opt Options) (*Lab, error) {
	if prof.Lab == nil {
		return nil, fmt.Errorf("profile %s describes real hosts, not a lab", prof.Name)
	}
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	l := &Lab{Dir: opt.Dir, logf: opt.Logf}
	if l.Dir == "" {
		d, err := os.MkdirTemp("", "dcres-lab-")
		if err != nil {
			return nil, err
		}
		l.Dir, l.temp = d, true
	}
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return nil, err
	}
	bin := opt.Binary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		bin = exe
	}
	ok := false
	defer func() {
		if !ok {
			l.Close()
		}
	}()
	signer, err := transport.LoadOrCreateHostKey(filepath.Join(l.Dir, "operator_key"))
	if err != nil {
		return nil, err
	}
	l.Signer = signer
	l.KnownHosts = filepath.Join(l.Dir, "known_hosts")
	os.Remove(l.KnownHosts)
	authorized := ssh.MarshalAuthorizedKey(signer.PublicKey())

	if prof.Lab.Netns {
		if why := netnsUnavailable(); why != "" {
			l.Note = "agents on loopback, not in network namespaces: " + why
			opt.Logf("%s", l.Note)
		} else {
			p, err := createNetns(ctx, l.Dir, prof.HostNames(), prof.Lab.LinkRate, opt.Logf)
			if err != nil {
				return nil, err
			}
			l.netns, l.Netns = p, true
			opt.Logf("netns lab %s: bridge %s at %s/24, link rate %s", p.ID, p.Bridge, p.bridgeIP(), rateString(p.LinkRate))
		}
	}

	for i, name := range prof.HostNames() {
		data := filepath.Join(l.Dir, "hosts", name)
		if err := os.MkdirAll(data, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(data, "authorized_keys"), authorized, 0o600); err != nil {
			return nil, err
		}
		// The lab makes each agent's host key itself, so it can trust it
		// without asking: it never crossed a network.
		hk, err := transport.LoadOrCreateHostKey(hostagent.HostKeyPath(data))
		if err != nil {
			return nil, err
		}
		os.Remove(hostagent.AddrFile(data))
		listen, ns := "127.0.0.1:0", ""
		if l.netns != nil {
			h := l.netns.Hosts[i]
			listen, ns = net.JoinHostPort(h.IP, agentPort), h.NS
		}
		args := []string{"agent", "--name", name, "--data", data, "--listen", listen}
		if opt.Lease > 0 {
			args = append(args, "--lease", opt.Lease.String())
		}
		a, err := startAgent(bin, args, name, data, ns)
		if err != nil {
			return nil, err
		}
		l.agents = append(l.agents, a)
		addr, err := a.waitAddr(ctx, 15*time.Second)
		if err != nil {
			return nil, err
		}
		if err := transport.AddKnownHost(l.KnownHosts, addr, hk.PublicKey()); err != nil {
			return nil, err
		}
		l.Hosts = append(l.Hosts, orchestrator.HostSpec{Name: name, Addr: addr, User: "dcres"})
		if ns != "" {
			opt.Logf("agent %s listening on %s in namespace %s", name, addr, ns)
		} else {
			opt.Logf("agent %s listening on %s", name, addr)
		}
	}
	st := State{Profile: prof.Name, Hosts: l.Hosts, Key: filepath.Join(l.Dir, "operator_key"), KnownHosts: l.KnownHosts, PID: os.Getpid(), Netns: l.Netns, Note: l.Note}
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := os.WriteFile(StateFile(l.Dir), b, 0o600); err != nil {
		return nil, err
	}
	ok = true
	return l, nil
}

// startAgent starts an agent, in network namespace ns unless ns is "".
// `ip netns exec` execs the agent in place (it forks only in batch mode),
// so the process started is the agent and the death signal still holds.
func startAgent(bin string, args []string, name, data, ns string) (*agentProc, error) {
	logf, err := os.Create(filepath.Join(data, "agent.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	if ns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// The agents die with the lab, even when the lab is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting agent %s (%s): %w", name, bin, err)
	}
	a := &agentProc{name: name, data: data, cmd: cmd, done: make(chan struct{})}
	go func() {
		a.err = cmd.Wait()
		logf.Close()
		close(a.done)
	}()
	return a, nil
}

// waitAddr waits for the agent to write the address it listens on.
func (a *agentProc) waitAddr(ctx context.Context, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(hostagent.AddrFile(a.data)); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			return strings.TrimSpace(string(b)), nil
		}
		select {
		case <-a.done:
			return "", fmt.Errorf("agent %s exited at start (%v): %s", a.name, a.err, a.logTail())
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("agent %s did not listen within %s: %s", a.name, timeout, a.logTail())
		}
	}
}

func (a *agentProc) logTail() string {
	b, _ := os.ReadFile(filepath.Join(a.data, "agent.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

// Agent names the process of host name, for fault injection in tests.
func (l *Lab) Agent(name string) *os.Process {
	for _, a := range l.agents {
		if a.name == name {
			return a.cmd.Process
		}
	}
	return nil
}

// Close stops every agent (SIGTERM, then SIGKILL after 5 s), removes a
// netns lab's namespaces, links and bridge, and removes a temporary lab
// directory.
func (l *Lab) Close() error {
	var errs []error
	for _, a := range l.agents {
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, a := range l.agents {
		select {
		case <-a.done:
		case <-time.After(5 * time.Second):
			_ = a.cmd.Process.Kill()
			<-a.done
			errs = append(errs, fmt.Errorf("agent %s did not stop on SIGTERM; killed", a.name))
		}
	}
	l.agents = nil
	if l.netns != nil {
		if err := l.netns.remove(); err != nil {
			errs = append(errs, fmt.Errorf("removing netns lab %s (the next lab start retries): %w", l.netns.ID, err))
		}
		l.netns = nil
	}
	os.Remove(StateFile(l.Dir))
	if l.temp {
		if err := os.RemoveAll(l.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
