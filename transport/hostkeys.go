package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is the refusal of a host key: unknown (Known is empty) or
// changed (Known lists the keys on file for the host).
type HostKeyError struct {
	Host  string // as written in known_hosts, e.g. "[127.0.0.1]:2201"
	Key   ssh.PublicKey
	Known []knownhosts.KnownKey
	Path  string // the known_hosts file, or "" for a pinned key
}

func (e *HostKeyError) Error() string {
	if e.Path == "" {
		want := "none"
		if len(e.Known) > 0 {
			want = describeKey(e.Known[0].Key)
		}
		return fmt.Sprintf("host key for %s is %s but the pinned key is %s: refusing the connection (wrong peer address, or an attack)",
			e.Host, describeKey(e.Key), want)
	}
	if len(e.Known) == 0 {
		return fmt.Sprintf("host key for %s is not in %s (%s): if that fingerprint is right, run `dcres trust %s` (or append `ssh-keyscan %s` output to %s)",
			e.Host, e.Path, describeKey(e.Key), e.Host, keyscanArgs(e.Host), e.Path)
	}
	var known []string
	for _, k := range e.Known {
		known = append(known, fmt.Sprintf("%s at %s:%d", describeKey(k.Key), k.Filename, k.Line))
	}
	return fmt.Sprintf("host key for %s CHANGED: it is now %s, known_hosts has %s: this may be an attack (someone in the middle); if the host was reinstalled, remove the old line and run `dcres trust %s`",
		e.Host, describeKey(e.Key), strings.Join(known, ", "), e.Host)
}

// keyscanArgs turns "[host]:port" into "-p port host" for ssh-keyscan.
func keyscanArgs(host string) string {
	if h, p, err := net.SplitHostPort(host); err == nil {
		return "-p " + p + " " + h
	}
	return host
}

// KnownHosts returns a callback that verifies host keys strictly against an
// OpenSSH known_hosts file (hashed or plain lines). A missing file is an
// empty one: every host is unknown until trusted.
func KnownHosts(path string) (ssh.HostKeyCallback, error) {
	var inner ssh.HostKeyCallback
	_, err := os.Stat(path)
	switch {
	case err == nil:
		inner, err = knownhosts.New(path)
		if err != nil {
			return nil, fmt.Errorf("known_hosts %s: %v: fix or remove the bad line", path, err)
		}
	case errors.Is(err, fs.ErrNotExist):
		inner = func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }
	default:
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := inner(hostname, remote, key)
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ke):
			return &HostKeyError{Host: knownhosts.Normalize(hostname), Key: key, Known: ke.Want, Path: path}
		case errors.As(err, &re):
			return fmt.Errorf("host key for %s (%s) is marked @revoked in %s:%d: refusing it", knownhosts.Normalize(hostname), describeKey(key), re.Revoked.Filename, re.Revoked.Line)
		}
		return fmt.Errorf("host key for %s: %w", knownhosts.Normalize(hostname), err)
	}, nil
}

// AddKnownHost appends a plain known_hosts line for addr ("host:port"; port
// 22 is written as the bare host, as OpenSSH does), creating the file with
// mode 0600 and its directory with 0700 if needed.
func AddKnownHost(path, addr string, key ssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	defer f.Close()
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
	// Start on a fresh line even if the file's last line lacks its newline.
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err == nil && !bytes.Equal(last, []byte("\n")) {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("known_hosts %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("known_hosts %s: %w", path, err)
	}
	return f.Close()
}

// PinnedKey accepts exactly key, whatever the host name: for agent-to-agent
// links, where the session told each agent its peers' keys.
func PinnedKey(key ssh.PublicKey) ssh.HostKeyCallback {
	want := key.Marshal()
	return func(hostname string, remote net.Addr, got ssh.PublicKey) error {
		if bytes.Equal(got.Marshal(), want) {
			return nil
		}
		return &HostKeyError{Host: hostname, Key: got, Known: []knownhosts.KnownKey{{Key: key}}}
	}
}
