package fusemem

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestQEMUMapsNode starts QEMU with no machine and one memory-backend-file
// on a node, and checks that QEMU comes up with the file mapped.
func TestQEMUMapsNode(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
	const size = 64 << 20
	be := newMemBackend(size)
	m := mountT(t, Options{}, NodeSpec{Name: "sub1", Size: size, Backend: be})
	if err := CheckOnFUSE(m.Path("sub1")); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	cmd := exec.Command(qemu, "-machine", "none", "-nodefaults", "-display", "none",
		"-object", "memory-backend-file,id=ram1,size="+strconv.Itoa(size)+",mem-path="+m.Path("sub1")+",share=on",
		"-qmp", "unix:"+sock+",server=on,wait=off")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // before the mount's cleanup: QEMU exits first
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		maps, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/maps")
		if strings.Contains(string(maps), m.Path("sub1")) {
			break
		}
		if cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("QEMU did not map %s: %s", m.Path("sub1"), stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(sock); err != nil {
		t.Logf("QMP socket not yet up: %v", err)
	}
}
