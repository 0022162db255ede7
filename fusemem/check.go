package fusemem

import (
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"
)

// fuseSuperMagic is statfs(2)'s f_type for every FUSE file system.
const fuseSuperMagic = 0x65735546

// CheckOnFUSE returns nil only if path exists on a FUSE file system. Call it
// on a node's Path before starting QEMU: a QEMU that finds no FUSE file
// would create a plain file of zeros on the underlying disk and run a guest
// whose remote memory is silently missing.
func CheckOnFUSE(path string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("fusemem: %s does not exist: the dcres FUSE mount is not up; start the agent's mount before QEMU", path)
		}
		return fmt.Errorf("fusemem: statfs %s: %w", path, err)
	}
	if st.Type != fuseSuperMagic {
		return fmt.Errorf("fusemem: %s is on a file system of type %#x, not FUSE: the dcres mount is not up there; start the agent's mount before QEMU", path, st.Type)
	}
	return nil
}
