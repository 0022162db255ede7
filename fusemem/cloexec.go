package fusemem

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// go-fuse (v2.12) returns a direct mount's /dev/fuse descriptor without
// close-on-exec, so every process this one starts afterwards (QEMU above
// all) inherits it. An inherited copy keeps the connection alive when this
// server dies: the kernel never aborts it, and a guest thread waiting on the
// mount sleeps uninterruptibly forever, leaving an unkillable QEMU and a
// mount nothing can clear. newServer mounts under the fork lock, so no
// process starts in between, and marks the descriptor close-on-exec.
func newServer(mount func() error) error {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	err := mount()
	closeOnExecDevFuse()
	return err
}

// closeOnExecDevFuse marks every /dev/fuse descriptor of this process
// close-on-exec (none should ever be inherited).
func closeOnExecDevFuse() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || target != "/dev/fuse" {
			continue
		}
		var fd int
		if fd, err = strconv.Atoi(e.Name()); err == nil {
			unix.CloseOnExec(fd)
		}
	}
}
