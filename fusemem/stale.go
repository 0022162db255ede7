package fusemem

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// live holds the mount points this process serves, so CleanStale never
// touches them.
var live sync.Map // string -> struct{}

// mountEntry is one line of /proc/self/mountinfo, the fields we use.
type mountEntry struct {
	MountPoint string
	FSType     string
	Source     string
}

// parseMountinfo reads proc(5) mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT
// OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS", with spaces and other
// special bytes in paths escaped as \ooo.
func parseMountinfo(r io.Reader) ([]mountEntry, error) {
	var out []mountEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 5 || sep < 0 || sep+2 >= len(f) {
			return nil, fmt.Errorf("fusemem: malformed mountinfo line %q", sc.Text())
		}
		out = append(out, mountEntry{
			MountPoint: unescapeOctal(f[4]),
			FSType:     f[sep+1],
			Source:     unescapeOctal(f[sep+2]),
		})
	}
	return out, sc.Err()
}

func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOct(s[i+1]) && isOct(s[i+2]) && isOct(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOct(c byte) bool { return c >= '0' && c <= '7' }

// staleUnder picks the dcres mounts at or below root that this process does
// not serve, deepest first (so nested mounts come off before their parents).
func staleUnder(entries []mountEntry, root string) []string {
	var out []string
	for _, e := range entries {
		if e.FSType != fsType {
			continue
		}
		if e.MountPoint != root && !strings.HasPrefix(e.MountPoint, strings.TrimSuffix(root, "/")+"/") {
			continue
		}
		if _, mine := live.Load(e.MountPoint); mine {
			continue
		}
		out = append(out, e.MountPoint)
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// CleanStale unmounts dcres FUSE mounts at or below root whose server is
// gone (a killed agent leaves them behind; every access then fails with
// "transport endpoint is not connected"). Mounts whose server still answers,
// and mounts served by this process, are left alone. Unmounting is lazy, so
// a process still mapping a file does not block it. It returns one line per
// mount it acted on, failures included; call it at agent start, before New.
func CleanStale(root string) []string {
	abs, err := filepath.Abs(root)
	if err != nil {
		return []string{fmt.Sprintf("cannot resolve %q: %v", root, err)}
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return []string{fmt.Sprintf("cannot read mount table: %v", err)}
	}
	entries, err := parseMountinfo(f)
	f.Close()
	if err != nil {
		return []string{err.Error()}
	}
	var done []string
	for _, mp := range staleUnder(entries, filepath.Clean(abs)) {
		var st unix.Statfs_t
		err := unix.Statfs(mp, &st)
		if !errors.Is(err, unix.ENOTCONN) && !errors.Is(err, unix.ECONNABORTED) {
			continue // the server answers (or the mount is otherwise fine): not ours to judge
		}
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
			done = append(done, fmt.Sprintf("could not unmount stale %s: %v", mp, err))
			continue
		}
		done = append(done, fmt.Sprintf("unmounted stale %s (its server is gone)", mp))
	}
	return done
}
