package writetrack

import (
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PageSize is the granularity of tracking.
const PageSize = 4096

// Tracker reports the pages of one mapping of another process written
// since the previous scan.
type Tracker struct {
	mu      sync.Mutex
	uffd    int
	pagemap *os.File
	start   uint64 // the mapping in the target's address space
	length  uint64
	regions []pageRegion
}

// Attach starts tracking writes by process pid to the whole mapping of
// path (a file it maps shared, such as a /dev/shm file) of size bytes. Every
// page counts as written before the first scan is taken, so a caller that
// needs a clean start scans once and drops the result.
func Attach(pid int, path string, size int64) (*Tracker, error) {
	start, err := FindMapping(pid, path, size)
	if err != nil {
		return nil, err
	}
	pagemap, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", pid))
	if err != nil {
		return nil, fmt.Errorf("write tracking: %w", err)
	}
	fd, err := borrowFD(pid)
	if err != nil {
		pagemap.Close()
		return nil, fmt.Errorf("write tracking: %w", err)
	}
	t := &Tracker{uffd: fd, pagemap: pagemap, start: start, length: uint64(size), regions: make([]pageRegion, 512)}
	if err := t.register(); err != nil {
		t.Close()
		return nil, fmt.Errorf("write tracking of %s in process %d: %w", path, pid, err)
	}
	return t, nil
}

func (t *Tracker) register() error {
	api := uffdioAPIArg{API: uffdAPI, Features: featureWPAsync | featureWPUnpopulated | featureWPHugetlbfsShmem}
	if err := ioctl(t.uffd, uffdioAPI, unsafe.Pointer(&api)); err != nil {
		return fmt.Errorf("userfaultfd API with asynchronous write-protect (Linux 6.7+): %w", err)
	}
	reg := uffdioRegisterArg{Range: uffdioRange{Start: t.start, Len: t.length}, Mode: registerModeWP}
	if err := ioctl(t.uffd, uffdioRegister, unsafe.Pointer(&reg)); err != nil {
		return fmt.Errorf("registering write-protect: %w", err)
	}
	wp := uffdioWriteProtectArg{Range: uffdioRange{Start: t.start, Len: t.length}, Mode: writeProtectModeWP}
	if err := ioctl(t.uffd, uffdioWriteProtect, unsafe.Pointer(&wp)); err != nil {
		return fmt.Errorf("write-protecting: %w", err)
	}
	// A probe scan: a kernel without PAGEMAP_SCAN fails here, not at the
	// first checkpoint.
	return t.Scan(func(uint64, uint64) {})
}

// Scan calls fn(first, count) for every run of pages (indexes from the
// mapping's start) written since the previous scan, and protects them again
// in the same step, so a write racing the scan is reported by this scan or
// the next, never lost.
func (t *Tracker) Scan(fn func(first, count uint64)) error {
	return t.walk(scanWPMatching|scanCheckWPAsync, fn)
}

// Pending counts the pages written since the previous scan without taking
// them: the next Scan still reports them.
func (t *Tracker) Pending() (uint64, error) {
	var n uint64
	err := t.walk(0, func(_, count uint64) { n += count })
	return n, err
}

// walk runs PAGEMAP_SCAN over the mapping with flags, calling fn for each
// run of written pages.
func (t *Tracker) walk(flags uint64, fn func(first, count uint64)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pagemap == nil {
		return fmt.Errorf("write tracking is closed")
	}
	end := t.start + t.length
	for at := t.start; at < end; {
		arg := pmScanArg{
			Size:  uint64(unsafe.Sizeof(pmScanArg{})),
			Flags: flags,
			Start: at, End: end,
			Vec: uint64(uintptr(unsafe.Pointer(&t.regions[0]))), VecLen: uint64(len(t.regions)),
			CategoryMask: pageIsWritten, ReturnMask: pageIsWritten,
		}
		n, err := ioctlN(int(t.pagemap.Fd()), pagemapScan, unsafe.Pointer(&arg))
		if err != nil {
			return fmt.Errorf("PAGEMAP_SCAN (Linux 6.7+): %w", err)
		}
		for _, r := range t.regions[:n] {
			fn((r.Start-t.start)/PageSize, (r.End-r.Start)/PageSize)
		}
		if arg.WalkEnd <= at {
			return fmt.Errorf("PAGEMAP_SCAN made no progress at %#x", at)
		}
		at = arg.WalkEnd
	}
	return nil
}

// Close ends tracking; the target's memory is left unprotected.
func (t *Tracker) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pagemap == nil {
		return nil
	}
	// Closing the userfaultfd drops the registration and wakes any waiter.
	err := unix.Close(t.uffd)
	t.pagemap.Close()
	t.pagemap = nil
	return err
}

// FindMapping returns where process pid maps the whole of path (size
// bytes from offset 0).
func FindMapping(pid int, path string, size int64) (uint64, error) {
	maps, err := readMaps(pid)
	if err != nil {
		return 0, fmt.Errorf("write tracking: %w", err)
	}
	for _, m := range maps {
		if (m.path == path || m.path == path+" (deleted)") && m.offset == 0 && m.end-m.start == uint64(size) {
			return m.start, nil
		}
	}
	return 0, fmt.Errorf("write tracking: process %d does not map %s (%d bytes) in one piece", pid, path, size)
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	_, err := ioctlN(fd, req, arg)
	return err
}

func ioctlN(fd int, req uintptr, arg unsafe.Pointer) (int, error) {
	for {
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		return int(r), nil
	}
}
