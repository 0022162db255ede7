// Package pattern is the page content of the verifying guest: every 4 KiB
// page it writes encodes its own index and version, so a page that is stale
// (an older version), misplaced (another index) or damaged (any flipped bit)
// is detected when it is read. Both the guest program and host-side tests
// use it, so they agree on the layout.
//
// Layout of one page, as little-endian 64-bit words:
//
//	w0 = Magic, w1 = index, w2 = version, w3 = seed,
//	w4..w511 = mix(index, version, seed) ^ (i * golden)
//
// The header lets an outside tool find the guest's pages in a RAM file; the
// body makes every bit of the page part of the check.
package pattern

import (
	"encoding/binary"
)

// PageSize is the size of one page.
const PageSize = 4096

// Magic starts every page the guest wrote ("DCRESPG1" in little endian).
const Magic uint64 = 0x3147505345524344

const words = PageSize / 8

const golden = 0x9E3779B97F4A7C15

// mix is splitmix64's finaliser over the page's identity: cheap enough for a
// TCG guest, and every input bit changes every output word.
func mix(index uint64, version uint32, seed uint64) uint64 {
	z := index*golden ^ uint64(version)<<32 ^ seed
	z ^= z >> 30
	z *= 0xBF58476D1CE4E5B9
	z ^= z >> 27
	z *= 0x94D049BB133111EB
	z ^= z >> 31
	return z
}

// Fill writes page p (len >= PageSize) as version version of page index.
func Fill(p []byte, index uint64, version uint32, seed uint64) {
	p = p[:PageSize]
	le := binary.LittleEndian
	le.PutUint64(p[0:], Magic)
	le.PutUint64(p[8:], index)
	le.PutUint64(p[16:], uint64(version))
	le.PutUint64(p[24:], seed)
	h := mix(index, version, seed)
	for i := 4; i < words; i++ {
		le.PutUint64(p[i*8:], h^uint64(i)*golden)
	}
}

// Check reports whether p is exactly version version of page index. When it
// is not, got is the version the page's header claims, or -1 when the header
// itself is not one of ours (never written, or damaged).
func Check(p []byte, index uint64, version uint32, seed uint64) (got int64, ok bool) {
	p = p[:PageSize]
	hIndex, hVersion, hSeed, isOurs := Header(p)
	if !isOurs || hIndex != index || hSeed != seed {
		return -1, false
	}
	if hVersion != version {
		return int64(hVersion), false
	}
	le := binary.LittleEndian
	h := mix(index, version, seed)
	for i := 4; i < words; i++ {
		if le.Uint64(p[i*8:]) != h^uint64(i)*golden {
			return int64(hVersion), false
		}
	}
	return int64(hVersion), true
}

// Header decodes a page's header; ok is false when the page does not start
// with Magic.
func Header(p []byte) (index uint64, version uint32, seed uint64, ok bool) {
	if len(p) < 32 {
		return 0, 0, 0, false
	}
	le := binary.LittleEndian
	if le.Uint64(p[0:]) != Magic {
		return 0, 0, 0, false
	}
	return le.Uint64(p[8:]), uint32(le.Uint64(p[16:])), le.Uint64(p[24:]), true
}
