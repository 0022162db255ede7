// Package image locates the verifying QEMU guest that build.sh builds: a
// Debian cloud kernel and an initramfs holding busybox and the static Go
// program in ./init as /init.
package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// EnvDir names a directory holding vmlinuz and initramfs.gz; it overrides
// the search for build/guest under the module root.
const EnvDir = "DCRES_GUEST_DIR"

// Find returns the guest's kernel and initramfs: in $DCRES_GUEST_DIR when
// set, else in build/guest under the module root (the first directory
// upwards from the working directory that holds go.mod).
func Find() (kernel, initrd string, err error) {
	dir := os.Getenv(EnvDir)
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", "", fmt.Errorf("guest image: %v", err)
		}
		root, err := moduleRoot(wd)
		if err != nil {
			return "", "", err
		}
		dir = filepath.Join(root, "build", "guest")
	}
	return findIn(dir)
}

func findIn(dir string) (kernel, initrd string, err error) {
	kernel = filepath.Join(dir, "vmlinuz")
	initrd = filepath.Join(dir, "initramfs.gz")
	for _, p := range []string{kernel, initrd} {
		if _, err := os.Stat(p); err != nil {
			return "", "", fmt.Errorf("guest image: %s missing: run make guest (or guest/image/build.sh %s)", p, dir)
		}
	}
	return kernel, initrd, nil
}

func moduleRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("guest image: %v", err)
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("guest image: no go.mod above %s: run from the dcres tree or set %s; run make guest to build the image", dir, EnvDir)
		}
	}
}
