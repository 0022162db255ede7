package synthetic

import (
	"fmt"

	"dcres/guest/image/pattern"
)

// contentSeed is the pattern seed of synthetic pages. The layout is the one
// the QEMU guest writes (package pattern), so host-side tools read both alike.
const contentSeed = 0

// Fill writes page as version version of page gfn.
func Fill(page []byte, gfn uint64, version uint32) {
	pattern.Fill(page, gfn, version, contentSeed)
}

// Check reports how page differs from version version of page gfn. Version 0
// means never written: the page must be all zeros.
func Check(page []byte, gfn uint64, version uint32) error {
	if len(page) < pattern.PageSize {
		return fmt.Errorf("page %d: %d bytes, want %d", gfn, len(page), pattern.PageSize)
	}
	if version == 0 {
		for i, b := range page[:pattern.PageSize] {
			if b != 0 {
				return fmt.Errorf("page %d: never written but byte %d is %#x", gfn, i, b)
			}
		}
		return nil
	}
	got, ok := pattern.Check(page, gfn, version, contentSeed)
	switch {
	case ok:
		return nil
	case got < 0:
		if idx, v, _, isOurs := pattern.Header(page); isOurs {
			return fmt.Errorf("page %d: holds version %d of page %d, want version %d", gfn, v, idx, version)
		}
		return fmt.Errorf("page %d: not a guest page (zero or damaged header), want version %d", gfn, version)
	case got != int64(version):
		return fmt.Errorf("page %d: stale or wrong version %d, want %d", gfn, got, version)
	default:
		return fmt.Errorf("page %d: version %d header is right but the body is damaged", gfn, version)
	}
}
