package writetrack

// The kernel's userfaultfd and pagemap interfaces (linux/userfaultfd.h,
// linux/fs.h), which x/sys/unix does not carry.

const (
	uffdAPI = 0xaa

	// ioctl numbers: _IOWR(0xaa, nr, struct) and _IOWR('f', 16, pm_scan_arg).
	uffdioAPI          = 0xc018aa3f
	uffdioRegister     = 0xc020aa00
	uffdioUnregister   = 0x8010aa01
	uffdioWriteProtect = 0xc018aa06
	pagemapScan        = 0xc0606610

	featureWPHugetlbfsShmem = 1 << 12
	featureWPUnpopulated    = 1 << 13
	featureWPAsync          = 1 << 15

	registerModeWP     = 1 << 1
	writeProtectModeWP = 1 << 0

	scanWPMatching   = 1 << 0
	scanCheckWPAsync = 1 << 1
	pageIsWritten    = 1 << 1
)

type uffdioAPIArg struct {
	API, Features, Ioctls uint64
}

type uffdioRange struct {
	Start, Len uint64
}

type uffdioRegisterArg struct {
	Range  uffdioRange
	Mode   uint64
	Ioctls uint64
}

type uffdioWriteProtectArg struct {
	Range uffdioRange
	Mode  uint64
}

type pmScanArg struct {
	Size, Flags, Start, End, WalkEnd, Vec, VecLen, MaxPages uint64
	CategoryInverted, CategoryMask, CategoryAnyofMask       uint64
	ReturnMask                                              uint64
}

type pageRegion struct {
	Start, End, Categories uint64
}
