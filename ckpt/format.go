package ckpt

import (
	"encoding/binary"
	"math/bits"

	"dcres/api"
)

// Byte layout of a piece file; FORMAT.md is the prose version of this.
// All integers are little-endian.
const (
	pieceVersion = 1

	headerMagic  = "DCRES-PC" // 8 bytes at offset 0
	trailerMagic = "DCRESEND" // 8 bytes at the start of the trailer
	chunkMagic   = 0x4b4e4843 // "CHNK"
	footerMagic  = 0x544f4f46 // "FOOT"

	headerLen       = 256 // magic, version, flags, page size, chunk pages, 3 names, reserved, digest
	headerNameLen   = MaxNameLen
	chunkHeadLen    = 24 // magic, flags, runs, pages, zero pages, reserved
	runLen          = 16 // first gfn u64, count u64
	footerFixedLen  = 64 // magic, version, chunks, chunk pages, pages, zero pages, first, last, header digest
	footerEntryLen  = 64 // offset, length, first, last, pages, zero, runs, reserved, digest
	trailerLen      = 32 // magic, footer offset, footer length, xxh3-64 of the first 24 bytes
	defaultChunkPgs = 256
	// MaxChunkPages bounds a chunk (64 MiB of data), and so every buffer a
	// reader allocates from a length found in a file.
	MaxChunkPages = 16384
	// maxFooterLen bounds the footer allocation: a million chunks.
	maxFooterLen = footerFixedLen + footerEntryLen*(1<<20) + digestLen
)

var le = binary.LittleEndian

// header is the decoded fixed-size header.
type header struct {
	version    uint32
	flags      uint32
	pageSize   uint32
	chunkPages uint32
	host, vm   string
	id         string
}

func (h *header) encode() []byte {
	b := make([]byte, headerLen)
	copy(b[0:8], headerMagic)
	le.PutUint32(b[8:], h.version)
	le.PutUint32(b[12:], h.flags)
	le.PutUint32(b[16:], h.pageSize)
	le.PutUint32(b[20:], h.chunkPages)
	copy(b[24:24+headerNameLen], h.host)
	copy(b[24+headerNameLen:24+2*headerNameLen], h.vm)
	copy(b[24+2*headerNameLen:24+3*headerNameLen], h.id)
	d := sum128(b[:headerLen-digestLen])
	copy(b[headerLen-digestLen:], d[:])
	return b
}

// chunkEntry is one footer index entry; it is also what a chunk's own header
// must agree with.
type chunkEntry struct {
	offset, length int64
	first, last    uint64
	pages, zero    uint32
	runs           uint32
	digest         digest
}

func (e *chunkEntry) put(b []byte) {
	le.PutUint64(b[0:], uint64(e.offset))
	le.PutUint64(b[8:], uint64(e.length))
	le.PutUint64(b[16:], e.first)
	le.PutUint64(b[24:], e.last)
	le.PutUint32(b[32:], e.pages)
	le.PutUint32(b[36:], e.zero)
	le.PutUint32(b[40:], e.runs)
	le.PutUint32(b[44:], 0)
	copy(b[48:64], e.digest[:])
}

func getEntry(b []byte) chunkEntry {
	e := chunkEntry{
		offset: int64(le.Uint64(b[0:])),
		length: int64(le.Uint64(b[8:])),
		first:  le.Uint64(b[16:]),
		last:   le.Uint64(b[24:]),
		pages:  le.Uint32(b[32:]),
		zero:   le.Uint32(b[36:]),
		runs:   le.Uint32(b[40:]),
	}
	copy(e.digest[:], b[48:64])
	return e
}

// chunkLen is the exact byte length of a chunk with these counts; it is
// how a reader checks a length field before allocating for it.
func chunkLen(runs, pages, zero uint32) int64 {
	return chunkHeadLen + int64(runs)*runLen + int64(bitmapLen(pages)) +
		int64(pages-zero)*api.PageSize + digestLen
}

func bitmapLen(pages uint32) int { return int(pages+7) / 8 }

func popcount(b []byte) int {
	n := 0
	for _, c := range b {
		n += bits.OnesCount8(c)
	}
	return n
}
