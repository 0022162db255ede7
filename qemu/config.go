// Package qemu launches QEMU guests for dcres and drives them over QMP:
// guest RAM in share=on memory-backend-file NUMA nodes (so other processes
// can read and fill it), device state saved and loaded with x-ignore-shared
// migration over a passed file descriptor, QEMU's own full migration stream
// as a baseline, page-sampling dirty-rate measurement, and the verifying
// guest's serial console parsed into lines.
//
// go-qemu's SocketMonitor is the QMP transport; its generated raw package is
// too old for QEMU 7.2, so the commands here are small typed wrappers over
// Run, each bounded by a timeout (the transport has none).
package qemu

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Node is one guest NUMA node: SizeBytes of RAM in the file MemPath, mapped
// share=on so that guest-physical offsets within the node are file offsets.
type Node struct {
	SizeBytes int64
	MemPath   string
}

// Config describes one QEMU process.
type Config struct {
	Binary         string // default qemu-system-x86_64
	Kernel, Initrd string
	Append         string // kernel command line; console=ttyS0 is added when absent
	CPUs           int    // default 1
	Nodes          []Node
	// Dir is the runtime directory: QMP and serial sockets, qemu.log and
	// serial0.log. It must exist; keep its path short (unix socket paths
	// are limited to 107 bytes).
	Dir string
	// Incoming starts QEMU with -incoming defer, waiting for LoadDeviceState
	// or LoadStream.
	Incoming bool
	// Accel is the -machine accel= value; default "kvm:tcg" when KVM is
	// usable here, else "tcg" (KVM with a /dev/kvm but no VMX/SVM hangs).
	Accel     string
	ExtraArgs []string
	Logf      func(string, ...any)
}

const mib = 1 << 20

// maxSocketPath is the longest unix socket path the kernel accepts.
const maxSocketPath = 107

func (c *Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// validate fills defaults and checks what QEMU would otherwise reject late
// or, worse, accept wrongly.
func (c *Config) validate() error {
	if c.Binary == "" {
		c.Binary = "qemu-system-x86_64"
	}
	if c.CPUs == 0 {
		c.CPUs = 1
	}
	if c.Accel == "" {
		c.Accel = defaultAccel()
	}
	if c.Kernel == "" || c.Initrd == "" {
		return errors.New("qemu: Config.Kernel and Config.Initrd are required (run make guest, then image.Find)")
	}
	if c.Dir == "" {
		return errors.New("qemu: Config.Dir (runtime directory) is required")
	}
	if len(c.Nodes) == 0 {
		return errors.New("qemu: Config.Nodes is empty; give the guest at least one memory node")
	}
	for i, n := range c.Nodes {
		if n.SizeBytes <= 0 || n.SizeBytes%mib != 0 {
			return fmt.Errorf("qemu: node %d size %d is not a positive multiple of 1 MiB", i, n.SizeBytes)
		}
		if n.MemPath == "" {
			return fmt.Errorf("qemu: node %d has no MemPath", i)
		}
	}
	if p := filepath.Join(c.Dir, "serial0.sock"); len(p) > maxSocketPath {
		return fmt.Errorf("qemu: runtime dir %q is too long for unix sockets (%d > %d bytes); use a shorter Dir", c.Dir, len(p), maxSocketPath)
	}
	return nil
}

func (c *Config) totalBytes() int64 {
	var t int64
	for _, n := range c.Nodes {
		t += n.SizeBytes
	}
	return t
}

// kernelAppend is the command line with the serial console ensured.
func (c *Config) kernelAppend() string {
	a := strings.TrimSpace(c.Append)
	if !strings.Contains(a, "console=") {
		a = strings.TrimSpace("console=ttyS0 " + a)
	}
	return a
}

// args is QEMU's command line.
func (c *Config) args() []string {
	a := []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-machine", "q35,accel=" + c.Accel, "-cpu", "max",
		"-smp", strconv.Itoa(c.CPUs),
		"-m", strconv.FormatInt(c.totalBytes()/mib, 10) + "M",
	}
	for i, n := range c.Nodes {
		// Commas in an option value are escaped by doubling.
		path := strings.ReplaceAll(n.MemPath, ",", ",,")
		a = append(a,
			"-object", fmt.Sprintf("memory-backend-file,id=ram%d,size=%d,mem-path=%s,share=on", i, n.SizeBytes, path),
			"-numa", fmt.Sprintf("node,nodeid=%d,memdev=ram%d", i, i))
	}
	a = append(a,
		"-kernel", c.Kernel, "-initrd", c.Initrd, "-append", c.kernelAppend(),
		"-qmp", "unix:"+filepath.Join(c.Dir, "qmp.sock")+",server=on,wait=off",
		// QEMU connects to our listening sockets, so no console output is
		// lost before we attach.
		"-chardev", "socket,id=ser0,path="+filepath.Join(c.Dir, "serial0.sock"),
		"-serial", "chardev:ser0",
		"-chardev", "socket,id=ser1,path="+filepath.Join(c.Dir, "serial1.sock"),
		"-serial", "chardev:ser1",
	)
	if c.Incoming {
		a = append(a, "-incoming", "defer")
	}
	return append(a, c.ExtraArgs...)
}

// FSType returns the file system type of the directory holding path, e.g.
// "tmpfs" or "fuse", so a caller can refuse to start a guest whose remote
// node would silently land on a plain disk because a mount is missing.
func FSType(path string) (string, error) {
	dir := filepath.Dir(path)
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "", fmt.Errorf("qemu: memory directory %s: %v (create it, or mount its file system first)", dir, err)
	}
	return fsName(int64(st.Type)), nil
}

func fsName(magic int64) string {
	switch magic {
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.FUSE_SUPER_MAGIC:
		return "fuse"
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlay"
	case unix.HUGETLBFS_MAGIC:
		return "hugetlbfs"
	}
	return fmt.Sprintf("0x%x", magic)
}

// defaultAccel prefers KVM only where it can run guests: the device node
// alone is not enough (a nested VM without VMX/SVM has /dev/kvm and hangs).
func defaultAccel() string {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return "tcg"
	}
	f.Close()
	cpu, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "tcg"
	}
	for _, line := range strings.Split(string(cpu), "\n") {
		if strings.HasPrefix(line, "flags") {
			for _, f := range strings.Fields(line) {
				if f == "vmx" || f == "svm" {
					return "kvm:tcg"
				}
			}
			break
		}
	}
	return "tcg"
}
