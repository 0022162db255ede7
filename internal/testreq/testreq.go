// Package testreq decides whether a test that needs a real part of the
// machine runs: QEMU with the verifying guest, root, network namespaces. A
// missing part skips the test, unless the variable CI sets for it
// (DCRES_REQUIRE_QEMU, DCRES_REQUIRE_NETNS, ...) is 1: then it fails, so a
// CI run cannot pass by skipping. One place, so every test means the same.
package testreq

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"dcres/guest/image"
)

// Variables that turn a missing part into a failure.
const (
	EnvQEMU  = "DCRES_REQUIRE_QEMU"
	EnvNetns = "DCRES_REQUIRE_NETNS"
)

// Need skips t because of why (nil: nothing is missing), or fails it when
// any of envs is set to 1.
func Need(t testing.TB, why error, envs ...string) {
	t.Helper()
	if why == nil {
		return
	}
	for _, env := range envs {
		if os.Getenv(env) == "1" {
			t.Fatalf("%s=1 but %v", env, why)
		}
	}
	t.Skipf("%v (set %s=1 to make this a failure)", why, envs[0])
}

// QEMU needs qemu-system-x86_64 and the verifying guest (`make guest`) and
// returns the guest's kernel and initramfs. It skips under -short.
func QEMU(t testing.TB) (kernel, initrd string) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration: boots QEMU")
	}
	_, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		err = fmt.Errorf("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")
	} else {
		kernel, initrd, err = image.Find()
	}
	Need(t, err, EnvQEMU)
	return kernel, initrd
}

// SplitQEMU is QEMU for a guest split over hosts: its remote nodes are FUSE
// mounts, which need root.
func SplitQEMU(t testing.TB) {
	t.Helper()
	QEMU(t)
	if os.Geteuid() != 0 {
		Need(t, fmt.Errorf("the FUSE nodes of a split QEMU guest need root"), EnvQEMU)
	}
}
