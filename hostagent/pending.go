package hostagent

import (
	"errors"
	"os"
	"path/filepath"

	"dcres/ckpt"
)

// pending lists vm's checkpoint directories on this host that have no
// manifest: a save or commit in progress (agent start removes those of an
// earlier run). A coordinator never resolves an orphan manifest of a
// checkpoint that is pending somewhere.
func (a *Agent) pending(vm string) []string {
	if ckpt.ValidName("vm", vm) != nil {
		return nil
	}
	ents, err := os.ReadDir(filepath.Join(a.store.Root, vm))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() || ckpt.ValidName("id", e.Name()) != nil {
			continue
		}
		if _, err := a.store.Load(vm, e.Name()); errors.Is(err, ckpt.ErrNotFound) {
			out = append(out, e.Name())
		}
	}
	return out
}
