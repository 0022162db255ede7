package fusemem

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const sampleMountinfo = `22 27 0:21 / /proc rw,relatime - proc proc rw
42 27 0:39 / /srv/dcres/vm1 rw,nosuid,nodev,relatime - fuse.dcres dcres-fusemem rw,user_id=0,group_id=0,max_read=1048576
43 27 0:40 / /srv/dcres/vm\0402 rw,nosuid,nodev,relatime shared:5 master:1 - fuse.dcres dcres-fusemem rw,user_id=0
44 27 0:41 / /srv/dcres-other/x rw,relatime - fuse.dcres dcres-fusemem rw
45 27 0:42 / /srv/dcres/sshfs rw,relatime - fuse.sshfs host:/ rw
`

func TestParseMountinfoAndPickStale(t *testing.T) {
	es, err := parseMountinfo(strings.NewReader(sampleMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 5 || es[2].MountPoint != "/srv/dcres/vm 2" || es[2].FSType != "fuse.dcres" || es[4].FSType != "fuse.sshfs" {
		t.Fatalf("parsed %+v", es)
	}
	got := staleUnder(es, "/srv/dcres")
	want := []string{"/srv/dcres/vm 2", "/srv/dcres/vm1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("staleUnder = %q, want %q (not the sibling /srv/dcres-other, not sshfs)", got, want)
	}
	if _, err := parseMountinfo(strings.NewReader("1 2 3\n")); err == nil {
		t.Fatal("malformed line accepted")
	}
}

// TestCleanStaleAfterKilledServer mounts from a child process, kills it
// with SIGKILL (no unmount), and expects CleanStale to remove the mount.
func TestCleanStaleAfterKilledServer(t *testing.T) {
	requireFUSE(t)
	root := t.TempDir()
	dir := filepath.Join(root, "vm1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "FUSEMEM_CHILD=server", "FUSEMEM_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("server child: %q %v", line, err)
	}
	if err := CheckOnFUSE(filepath.Join(dir, FilesDir, "n")); err != nil {
		t.Fatal(err)
	}
	if got := CleanStale(root); len(got) != 0 {
		t.Fatalf("CleanStale touched a live mount: %q", got)
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	var got []string
	for len(got) == 0 && time.Now().Before(deadline) {
		got = CleanStale(root)
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("CleanStale: %q", got)
	if len(got) != 1 || !strings.Contains(got[0], "unmounted stale "+dir) {
		t.Fatalf("CleanStale = %q, want one unmount of %s", got, dir)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), dir) {
		t.Fatal("mount still listed after CleanStale")
	}
}
