package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"dcres/lab"
	"dcres/orchestrator"
	"dcres/profiles"
	"dcres/transport"
)

// common holds the flags every command that reaches hosts shares.
type common struct {
	json   *bool
	labDir *string
	key    *string
	known  *string
}

func addCommon(fs *flag.FlagSet) *common {
	return &common{
		json:   fs.Bool("json", false, "print results as JSON (one object per line)"),
		labDir: fs.String("lab-dir", "", "the lab's directory (default: a per-profile directory in the user cache)"),
		key:    fs.String("key", "", "SSH private key for real hosts (default: the profile's, else ssh-agent)"),
		known:  fs.String("known-hosts", "", "known_hosts file for real hosts (default: the profile's)"),
	}
}

// loadProfile loads PROFILE, or the embedded default when none is given. A
// bare name such as lab-local names a shipped profile.
func loadProfile(args []string) (*profiles.Profile, error) {
	if len(args) == 0 {
		return profiles.Default(), nil
	}
	if len(args) > 1 {
		return nil, usagef("one profile expected, got %v", args)
	}
	p, err := profiles.Load(args[0])
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			name := strings.TrimSuffix(filepath.Base(args[0]), ".yaml")
			if ep, ok := profiles.Embedded(name); ok {
				return ep, nil
			}
			return nil, usagef("profile %s does not exist (shipped profiles: %v)", args[0], profiles.EmbeddedNames())
		}
		return nil, usageError{err}
	}
	return p, nil
}

func defaultLabDir(p *profiles.Profile) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "dcres", "labs", p.Name)
}

// session is a connected coordinator, with what must be closed after it.
type session struct {
	*orchestrator.Session
	prof        *profiles.Profile
	lab         *lab.Lab
	beforeClose []func() // while the coordinator still runs
	cleanup     []func() // after it closed
}

func (s *session) Close() {
	for _, f := range s.beforeClose {
		f()
	}
	s.beforeClose = nil
	if s.Session != nil {
		s.Session.Close()
	}
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		s.cleanup[i]()
	}
}

// startLab starts a lab for p (in dir, or a temporary directory) and connects.
func startLab(ctx context.Context, p *profiles.Profile, dir string, logf func(string, ...any)) (*session, error) {
	l, err := lab.Start(ctx, p, lab.Options{Dir: dir, Logf: logf})
	if err != nil {
		return nil, err
	}
	if l.Note != "" {
		fmt.Fprintf(os.Stderr, "lab: %s\n", l.Note)
	}
	s := &session{prof: p, lab: l, cleanup: []func(){func() { l.Close() }}}
	hk, err := transport.KnownHosts(l.KnownHosts)
	if err != nil {
		s.Close()
		return nil, err
	}
	sess, err := orchestrator.Connect(ctx, orchestrator.Config{Profile: p, Hosts: l.Hosts, Signers: []ssh.Signer{l.Signer}, HostKey: hk, LinkRate: p.Lab.LinkRate, Logf: logf})
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Session = sess
	return s, nil
}

// attach connects to the hosts of p where a VM already runs: a running lab's
// agents for a lab profile, the profile's hosts otherwise.
func attach(ctx context.Context, p *profiles.Profile, c *common) (*session, error) {
	s, err := connect(ctx, p, c)
	if err != nil {
		return nil, err
	}
	if err := s.Attach(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// connect connects to the hosts of p (a running lab's agents for a lab
// profile, the profile's hosts otherwise) without looking for the VM.
func connect(ctx context.Context, p *profiles.Profile, c *common) (*session, error) {
	s := &session{prof: p}
	cfg := orchestrator.Config{Profile: p}
	if p.Lab != nil {
		dir := *c.labDir
		if dir == "" {
			dir = defaultLabDir(p)
		}
		b, err := os.ReadFile(lab.StateFile(dir))
		if err != nil {
			return nil, fmt.Errorf("no lab of profile %s is running (no %s): start one with `dcres lab %s`, or use `dcres run` for a self-contained run", p.Name, lab.StateFile(dir), p.Source)
		}
		var st lab.State
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("%s: %w", lab.StateFile(dir), err)
		}
		signers, err := transport.SignersFromFiles(st.Key)
		if err != nil {
			return nil, err
		}
		hk, err := transport.KnownHosts(st.KnownHosts)
		if err != nil {
			return nil, err
		}
		cfg.Hosts, cfg.Signers, cfg.HostKey, cfg.LinkRate = st.Hosts, signers, hk, p.Lab.LinkRate
	} else {
		known := *c.known
		if known == "" {
			known = expandHome(p.KnownHosts)
		}
		hk, err := transport.KnownHosts(known)
		if err != nil {
			return nil, err
		}
		cfg.HostKey = hk
		if *c.key != "" {
			signers, err := transport.SignersFromFiles(expandHome(*c.key))
			if err != nil {
				return nil, err
			}
			cfg.Signers = signers
		}
		for _, h := range p.Hosts {
			cfg.Hosts = append(cfg.Hosts, orchestrator.HostSpec{Name: h.Name, Addr: h.Address, User: h.User, Command: agentCommand(h)})
			if *c.key == "" && h.Key != "" {
				signers, err := transport.SignersFromFiles(expandHome(h.Key))
				if err != nil {
					return nil, err
				}
				cfg.Signers = append(cfg.Signers, signers...)
			}
		}
		if len(cfg.Signers) == 0 {
			signers, closeAgent, err := transport.SignersFromAgent()
			if err != nil {
				return nil, err
			}
			cfg.Signers = signers
			s.cleanup = append(s.cleanup, func() { closeAgent() })
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sess, err := orchestrator.Connect(ctx, cfg)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Session = sess
	return s, nil
}

// agentCommand is the command that starts a host's agent through its sshd:
// the profile's command, with --name and --data from the profile added
// unless the command gives them. (An authorized_keys command="..." on the
// host overrides it all.)
func agentCommand(h profiles.Host) string {
	cmd := h.Command
	if cmd == "" {
		return ""
	}
	has := func(flag string) bool {
		for _, w := range strings.Fields(cmd) {
			if w == flag || strings.HasPrefix(w, flag+"=") {
				return true
			}
		}
		return false
	}
	if !has("--name") && !has("-name") {
		cmd += " --name " + shellQuote(h.Name)
	}
	if !has("--data") && !has("-data") && h.Data != "" {
		if rest, ok := strings.CutPrefix(h.Data, "~/"); ok {
			cmd += " --data ~/" + shellQuote(rest) // the remote shell expands ~
		} else {
			cmd += " --data " + shellQuote(h.Data)
		}
	}
	return cmd
}

// shellQuote quotes s for a POSIX shell (sshd runs commands through the
// user's shell).
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func expandHome(p string) string {
	if strings.HasPrefix(p, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, p[2:])
		}
	}
	return p
}

// attachArgs parses a command's flags and its arguments, PROFILE and then
// between min and max more, and attaches to the profile's running VM.
func attachArgs(ctx context.Context, fs *flag.FlagSet, c *common, args []string, min, max int) (*session, []string, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return nil, nil, err
	}
	var rest []string
	if len(pos) > 1 {
		pos, rest = pos[:1], pos[1:]
	}
	if len(rest) < min || len(rest) > max {
		return nil, nil, usagef("wrong number of arguments (see dcres %s --help)", fs.Name())
	}
	p, err := loadProfile(pos)
	if err != nil {
		return nil, nil, err
	}
	s, err := attach(ctx, p, c)
	if err != nil {
		return nil, nil, err
	}
	return s, rest, nil
}
