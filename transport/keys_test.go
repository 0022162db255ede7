package transport

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"dcres/internal/leakcheck"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func TestLoadOrCreateHostKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc", "dcres")
	path := filepath.Join(dir, "host_ed25519")
	s1, err := LoadOrCreateHostKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if s1.PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Fatalf("key type %s", s1.PublicKey().Type())
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700 | os.ModeDir} {
		if fi, err := os.Stat(p); err != nil || fi.Mode() != want {
			t.Fatalf("%s: mode %v, want %v (%v)", p, fi.Mode(), want, err)
		}
	}
	s2, err := LoadOrCreateHostKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if Fingerprint(s1.PublicKey()) != Fingerprint(s2.PublicKey()) {
		t.Fatal("second load made a new key")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 { // key and .pub, no temp files
		t.Fatalf("directory holds %v", entries)
	}
	os.Chmod(path, 0o644)
	if _, err := LoadOrCreateHostKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key: %v", err)
	}
}

func TestGenerateKeyRefusesOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "id")
	s, err := GenerateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateKey(path); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("got %v", err)
	}
	got, err := SignersFromFiles(path)
	if err != nil || len(got) != 1 || Fingerprint(got[0].PublicKey()) != Fingerprint(s.PublicKey()) {
		t.Fatalf("reload: %v", err)
	}
	keys, err := LoadAuthorizedKeys(path + ".pub")
	if err != nil || len(keys) != 1 || Fingerprint(keys[0]) != Fingerprint(s.PublicKey()) {
		t.Fatalf(".pub: %v", err)
	}
}

func TestReadAuthorizedKeysErrorsNameTheLine(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, "k")
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.PublicKey())))
	cases := map[string]string{
		"# ops\n\n" + line + " bob\nnot a key\n":    ":4: not an OpenSSH public key line",
		`from="10.0.0.1" ` + line + " bob\n":        ":1: key options",
		"\n" + `command="/bin/true" ` + line + "\n": ":2: key options",
	}
	for content, want := range cases {
		p := filepath.Join(dir, "ak")
		os.WriteFile(p, []byte(content), 0o600)
		if _, err := ReadAuthorizedKeys(p); err == nil || !strings.Contains(err.Error(), p+want) {
			t.Errorf("%q: got %v, want %q", content, err, want)
		}
	}
	if _, err := LoadAuthorizedKeys(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestAuthorizer(t *testing.T) {
	op, peer, other := newKey(t, "op"), newKey(t, "peer"), newKey(t, "other")
	auth := Authorizer([]AuthorizedKey{{Key: op.PublicKey(), Comment: "alice"}}, map[string]ssh.PublicKey{"sub1": peer.PublicKey()})
	if id, ok := auth(op.PublicKey()); !ok || id != (Identity{RoleOperator, "alice", Fingerprint(op.PublicKey())}) {
		t.Errorf("operator: %+v %v", id, ok)
	}
	if id, ok := auth(peer.PublicKey()); !ok || id != (Identity{RolePeer, "sub1", Fingerprint(peer.PublicKey())}) {
		t.Errorf("peer: %+v %v", id, ok)
	}
	if _, ok := auth(other.PublicKey()); ok {
		t.Error("unknown key authorized")
	}
}

// TestOpenSSHInterop checks our reading of files written by ssh-keygen and
// that our fingerprints are the ones ssh-keygen -l prints.
func TestOpenSSHInterop(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("ssh-keygen not installed (Debian package openssh-client)")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-C", "carol@lab", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	aks, err := ReadAuthorizedKeys(path + ".pub")
	if err != nil || len(aks) != 1 || aks[0].Comment != "carol@lab" {
		t.Fatalf("ReadAuthorizedKeys of ssh-keygen output: %+v %v", aks, err)
	}
	out, err := exec.Command(keygen, "-l", "-E", "sha256", "-f", path+".pub").Output()
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(string(out)); len(f) < 2 || f[1] != Fingerprint(aks[0].Key) {
		t.Fatalf("ssh-keygen says %q, we say %s", out, Fingerprint(aks[0].Key))
	}
	signers, err := SignersFromFiles(path)
	if err != nil || Fingerprint(signers[0].PublicKey()) != Fingerprint(aks[0].Key) {
		t.Fatalf("private key from ssh-keygen: %v", err)
	}

	// And the other way: ssh-keygen reads the keys we write.
	ours := filepath.Join(dir, "ours")
	s, err := GenerateKey(ours)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{ours, ours + ".pub"} {
		out, err := exec.Command(keygen, "-l", "-E", "sha256", "-f", p).Output()
		if err != nil || !strings.Contains(string(out), Fingerprint(s.PublicKey())) {
			t.Fatalf("ssh-keygen -l %s: %q %v", p, out, err)
		}
	}
	// A passphrase-protected key gets advice, not a parse error.
	enc := filepath.Join(dir, "enc")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "secret", "-f", enc).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	if _, err := SignersFromFiles(enc); err == nil || !strings.Contains(err.Error(), "ssh-add") {
		t.Fatalf("encrypted key: %v", err)
	}
}

func TestSignersFromAgent(t *testing.T) {
	leakcheck.Check(t)
	t.Setenv("SSH_AUTH_SOCK", "")
	if _, _, err := SignersFromAgent(); err == nil || !strings.Contains(err.Error(), "SSH_AUTH_SOCK is not set") {
		t.Fatalf("unset: %v", err)
	}

	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { agent.ServeAgent(keyring, c); c.Close() })
		}
	})
	t.Setenv("SSH_AUTH_SOCK", sock)
	if _, _, err := SignersFromAgent(); err == nil || !strings.Contains(err.Error(), "holds no keys") {
		t.Fatalf("empty agent: %v", err)
	}
	path := filepath.Join(t.TempDir(), "k")
	k, err := GenerateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	priv, err := ssh.ParseRawPrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	signers, closeAgent, err := SignersFromAgent()
	if err != nil {
		t.Fatal(err)
	}
	defer closeAgent()
	if len(signers) != 1 || Fingerprint(signers[0].PublicKey()) != Fingerprint(k.PublicKey()) {
		t.Fatalf("agent signers %v", signers)
	}
}
