package hostagent

import (
	"os"
	"path/filepath"
	"strings"

	"dcres/fusemem"
)

// cleanStale removes what a killed agent of this data directory left: FUSE
// mounts whose server is gone, guest RAM files in /dev/shm, runtime
// directories. (Its QEMU died with it: QEMU runs with a parent-death signal.)
func (a *Agent) cleanStale() {
	run := filepath.Join(a.cfg.DataDir, "run")
	for _, m := range fusemem.CleanStale(run) {
		a.cfg.Logf("cleaned up a stale remote-memory mount: %s", m)
	}
	shm, _ := filepath.Glob(filepath.Join("/dev/shm", a.shmPrefix()+"*"))
	for _, f := range shm {
		if os.Remove(f) == nil {
			a.cfg.Logf("removed stale guest RAM file %s", f)
		}
	}
	entries, _ := os.ReadDir(run)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		// A directory still holding a live mount cannot go; leave it.
		if err := os.RemoveAll(filepath.Join(run, e.Name())); err != nil {
			a.cfg.Logf("could not remove stale runtime directory %s: %v", e.Name(), err)
		}
	}
}
