package transport

import (
	"bufio"
	"bytes"
	"fmt"
	"os"

	"golang.org/x/crypto/ssh"
)

// AuthorizedKey is one line of an authorized_keys file.
type AuthorizedKey struct {
	Key     ssh.PublicKey
	Comment string
	Line    int
}

// LoadAuthorizedKeys reads the keys of an OpenSSH authorized_keys file.
func LoadAuthorizedKeys(path string) ([]ssh.PublicKey, error) {
	aks, err := ReadAuthorizedKeys(path)
	if err != nil {
		return nil, err
	}
	keys := make([]ssh.PublicKey, len(aks))
	for i, ak := range aks {
		keys[i] = ak.Key
	}
	return keys, nil
}

// ReadAuthorizedKeys reads an OpenSSH authorized_keys file with comments.
// Blank lines and # comments are skipped. Key options (from=, command=, ...)
// are refused rather than ignored: dcres does not enforce them, and
// silently dropping a restriction would grant more than the file says.
func ReadAuthorizedKeys(path string) ([]AuthorizedKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("authorized keys: %w", err)
	}
	var out []AuthorizedKey
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		key, comment, options, _, err := ssh.ParseAuthorizedKey(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: not an OpenSSH public key line (%v): expected \"ssh-ed25519 AAAA... comment\"", path, n, err)
		}
		if len(options) > 0 {
			return nil, fmt.Errorf("%s:%d: key options %q are not supported by dcres: remove them or use a separate file", path, n, options)
		}
		out = append(out, AuthorizedKey{Key: key, Comment: comment, Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// Authorizer maps operator keys and named peer keys to identities, for
// ServerConfig.Authorize.
func Authorizer(operators []AuthorizedKey, peers map[string]ssh.PublicKey) func(ssh.PublicKey) (Identity, bool) {
	type entry struct{ role, name string }
	byKey := make(map[string]entry)
	for _, op := range operators {
		name := op.Comment
		if name == "" {
			name = Fingerprint(op.Key)
		}
		byKey[string(op.Key.Marshal())] = entry{RoleOperator, name}
	}
	for name, k := range peers {
		byKey[string(k.Marshal())] = entry{RolePeer, name}
	}
	return func(key ssh.PublicKey) (Identity, bool) {
		e, ok := byKey[string(key.Marshal())]
		if !ok {
			return Identity{}, false
		}
		return Identity{Role: e.role, Name: e.name, Fingerprint: Fingerprint(key)}, true
	}
}
