package transport

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Fingerprint returns the key's OpenSSH SHA256 fingerprint, "SHA256:...".
func Fingerprint(key ssh.PublicKey) string { return ssh.FingerprintSHA256(key) }

// describeKey names a key the way ssh-keygen -l does: type and fingerprint.
func describeKey(key ssh.PublicKey) string { return key.Type() + " " + Fingerprint(key) }

// GenerateKey writes a new ed25519 private key to path (OpenSSH format, mode
// 0600, parent directories 0700) and its public key to path+".pub". It
// refuses to overwrite an existing key.
func GenerateKey(path string) (ssh.Signer, error) {
	signer, err := writeNewKey(path)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("generate key: %s already exists: refusing to overwrite a key (remove it first if you mean it)", path)
	}
	return signer, err
}

// LoadOrCreateHostKey loads the ed25519 (or other) host key at path, or
// creates an ed25519 key there if there is none. A key file that others can
// read is refused, as OpenSSH does.
func LoadOrCreateHostKey(path string) (ssh.Signer, error) {
	signer, err := loadKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return signer, err
	}
	signer, err = writeNewKey(path)
	if errors.Is(err, fs.ErrExist) { // another process created it meanwhile
		return loadKey(path)
	}
	return signer, err
}

// SignersFromFiles loads private keys (unencrypted; passphrase-protected
// keys belong in ssh-agent).
func SignersFromFiles(paths ...string) ([]ssh.Signer, error) {
	var out []ssh.Signer
	for _, p := range paths {
		s, err := loadKey(p)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// SignersFromAgent returns the keys held by the ssh-agent at $SSH_AUTH_SOCK
// and a function that closes the connection to it; the signers work until
// then.
func SignersFromAgent() ([]ssh.Signer, func() error, error) {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, nil, errors.New("ssh-agent: SSH_AUTH_SOCK is not set: start one (eval $(ssh-agent); ssh-add) or name a key file instead")
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, nil, fmt.Errorf("ssh-agent at %s: %v: is the agent still running?", sock, err)
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("ssh-agent at %s: list keys: %v", sock, err)
	}
	if len(signers) == 0 {
		conn.Close()
		return nil, nil, fmt.Errorf("ssh-agent at %s holds no keys: add one with ssh-add", sock)
	}
	return signers, conn.Close, nil
}

func loadKey(path string) (ssh.Signer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key %s is accessible by others (mode %04o): run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	s, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("key %s is passphrase-protected: load it into ssh-agent (ssh-add %s) and use the agent", path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("key %s: not a private key: %v", path, err)
	}
	return s, nil
}

// writeNewKey creates an ed25519 key at path without ever exposing a partial
// file or replacing an existing one: it writes a temporary file and links it
// into place, which fails with fs.ErrExist if path exists.
func writeNewKey(path string) (ssh.Signer, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	comment := "dcres"
	if h, err := os.Hostname(); err == nil {
		comment = "dcres@" + h
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-key-*")
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(pem.EncodeToMemory(block)); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	line := string(bytes.TrimSuffix(ssh.MarshalAuthorizedKey(sshPub), []byte("\n"))) + " " + comment + "\n"
	if err := os.WriteFile(path+".pub", []byte(line), 0o644); err != nil {
		return nil, fmt.Errorf("key %s: write public key: %w", path, err)
	}
	return ssh.NewSignerFromKey(priv)
}
