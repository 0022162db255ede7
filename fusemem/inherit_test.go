package fusemem

import (
	"os/exec"
	"strings"
	"testing"
)

// A process started after a mount (QEMU) must not inherit the server's
// /dev/fuse descriptor: holding it keeps the connection alive after the
// server dies, and a guest thread waiting on the mount then never ends.
func TestIntegrationChildrenDoNotInheritDevFuse(t *testing.T) {
	for i := range 5 {
		mountT(t, Options{}, NodeSpec{Name: "n", Size: 1 << 20, Backend: newMemBackend(1 << 20)})
		out, err := exec.Command("sh", "-c", "ls -l /proc/self/fd/").CombinedOutput()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "/dev/fuse") {
			t.Fatalf("mount %d: a child process holds /dev/fuse:\n%s", i, out)
		}
	}
}
