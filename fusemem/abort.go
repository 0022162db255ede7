package fusemem

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

const fusectlDir = "/sys/fs/fuse/connections"

// abortConn aborts FUSE connection id through fusectl, mounting fusectl
// first if the system has not (systemd usually does; containers often don't).
// This is the only way to end a connection whose files are still mapped.
func abortConn(id uint32) error {
	ctl := filepath.Join(fusectlDir, strconv.FormatUint(uint64(id), 10), "abort")
	if _, err := os.Stat(ctl); os.IsNotExist(err) {
		if err := unix.Mount("fusectl", fusectlDir, "fusectl", 0, ""); err != nil && err != unix.EBUSY {
			return fmt.Errorf("mount fusectl on %s to abort connection %d: %w", fusectlDir, id, err)
		}
	}
	if err := os.WriteFile(ctl, []byte("1"), 0); err != nil {
		return fmt.Errorf("abort FUSE connection %d: %w", id, err)
	}
	return nil
}
