package ckpt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/zeebo/xxh3"

	"dcres/api"
)

// ChunkInfo describes one chunk, as listed in the footer index.
type ChunkInfo struct {
	Index             int
	Offset, Length    int64
	FirstGFN, LastGFN uint64
	Pages, ZeroPages  int
	Runs              int
	Digest            string
}

// PieceReader reads a piece file opened with OpenPiece. It reads chunks in
// large batches and verifies each chunk's digest before handing out any of
// its pages. It is not safe for concurrent use.
type PieceReader struct {
	f       *os.File // nil when reading from a plain io.ReaderAt
	ra      io.ReaderAt
	size    int64
	name    string
	hdr     header
	info    PieceInfo
	entries []chunkEntry
	buf     []byte
	zero    []byte
}

// readBatch is the size of one read when consecutive chunks are wanted.
const readBatch = 8 << 20

// OpenPiece opens a piece file and checks its header, trailer and footer
// index (magic, version, digests, and that the index describes a well-formed
// file). Chunk data is checked as it is read, or all at once by Verify.
func OpenPiece(path string) (*PieceReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ckpt: open piece: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ckpt: open piece: %w", err)
	}
	r, err := newPieceReader(f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.f = f
	r.info.Path = path
	return r, nil
}

func (r *PieceReader) readAt(b []byte, off int64, what string) error {
	n, err := r.ra.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return fault(r.name, off, int64(len(b)), "%s: short read (%d of %d bytes); file truncated?", what, n, len(b))
	}
	return fault(r.name, off, int64(len(b)), "%s: read: %v", what, err)
}

func newPieceReader(ra io.ReaderAt, size int64, name string) (*PieceReader, error) {
	r := &PieceReader{ra: ra, size: size, name: name}
	const minLen = headerLen + footerFixedLen + digestLen + trailerLen
	if size < minLen {
		return nil, fault(name, 0, size, "file is %d bytes, shorter than the smallest piece (%d bytes): truncated or not a piece", size, minLen)
	}
	if err := r.readHeader(); err != nil {
		return nil, err
	}
	footerOff, footerLen, err := r.readTrailer()
	if err != nil {
		return nil, err
	}
	if err := r.readFooter(footerOff, footerLen); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *PieceReader) readHeader() error {
	b := make([]byte, headerLen)
	if err := r.readAt(b, 0, "header"); err != nil {
		return err
	}
	if string(b[:8]) != headerMagic {
		return fault(r.name, 0, 8, "bad magic %q: not a dcres piece file", b[:8])
	}
	h := header{
		version: le.Uint32(b[8:]), flags: le.Uint32(b[12:]),
		pageSize: le.Uint32(b[16:]), chunkPages: le.Uint32(b[20:]),
	}
	if h.version != pieceVersion {
		return fault(r.name, 8, 4, "piece format version %d; this dcres reads version %d: use a dcres build that knows it", h.version, pieceVersion)
	}
	want := sum128(b[:headerLen-digestLen])
	if !bytes.Equal(want[:], b[headerLen-digestLen:]) {
		return fault(r.name, 0, headerLen, "header digest mismatch (stored %x, computed %s): header is corrupt", b[headerLen-digestLen:], want)
	}
	if h.flags != 0 {
		return fault(r.name, 12, 4, "unknown header flags %#x", h.flags)
	}
	if h.pageSize != api.PageSize {
		return fault(r.name, 16, 4, "page size %d; only %d is supported", h.pageSize, api.PageSize)
	}
	if h.chunkPages < 1 || h.chunkPages > MaxChunkPages {
		return fault(r.name, 20, 4, "chunk pages %d out of range [1, %d]", h.chunkPages, MaxChunkPages)
	}
	names := []*string{&h.host, &h.vm, &h.id}
	kinds := []string{"host", "vm", "id"}
	for i, p := range names {
		off := 24 + i*headerNameLen
		field := b[off : off+headerNameLen]
		*p = string(bytes.TrimRight(field, "\x00"))
		if err := ValidName(kinds[i], *p); err != nil {
			return fault(r.name, int64(off), headerNameLen, "header %s field: %v", kinds[i], err)
		}
	}
	r.hdr = h
	r.info = PieceInfo{Host: h.host, VM: h.vm, CheckpointID: h.id, Bytes: r.size, ChunkPages: int(h.chunkPages)}
	return nil
}

func (r *PieceReader) readTrailer() (off, length int64, err error) {
	toff := r.size - trailerLen
	b := make([]byte, trailerLen)
	if err := r.readAt(b, toff, "trailer"); err != nil {
		return 0, 0, err
	}
	if string(b[:8]) != trailerMagic {
		return 0, 0, fault(r.name, toff, trailerLen, "no trailer (bad magic %q): piece incomplete or truncated", b[:8])
	}
	if xxh3.Hash(b[:24]) != le.Uint64(b[24:]) {
		return 0, 0, fault(r.name, toff, trailerLen, "trailer checksum mismatch: trailer is corrupt")
	}
	fo, fl := le.Uint64(b[8:]), le.Uint64(b[16:])
	if fl < footerFixedLen+digestLen || fl > maxFooterLen || (fl-footerFixedLen-digestLen)%footerEntryLen != 0 {
		return 0, 0, fault(r.name, toff, trailerLen, "trailer gives footer length %d: not a valid footer size", fl)
	}
	if fo < headerLen || fo > uint64(toff) || uint64(toff)-fo != fl {
		return 0, 0, fault(r.name, toff, trailerLen, "trailer gives footer at [%d, +%d), which does not end at the trailer (%d)", fo, fl, toff)
	}
	return int64(fo), int64(fl), nil
}

func (r *PieceReader) readFooter(off, length int64) error {
	b := make([]byte, length)
	if err := r.readAt(b, off, "footer"); err != nil {
		return err
	}
	want := sum128(b[:length-digestLen])
	if !bytes.Equal(want[:], b[length-digestLen:]) {
		return fault(r.name, off, length, "footer digest mismatch (stored %x, computed %s): footer is corrupt", b[length-digestLen:], want)
	}
	bad := func(o, l int64, format string, args ...any) error {
		return fault(r.name, off+o, l, "footer: "+format, args...)
	}
	if le.Uint32(b[0:]) != footerMagic {
		return bad(0, 4, "bad magic %#x", le.Uint32(b[0:]))
	}
	if v := le.Uint32(b[4:]); v != pieceVersion {
		return bad(4, 4, "version %d, header says %d", v, pieceVersion)
	}
	n := int64(le.Uint32(b[8:]))
	if footerFixedLen+n*footerEntryLen+digestLen != length {
		return bad(8, 4, "%d chunks do not fit a footer of %d bytes", n, length)
	}
	if cp := le.Uint32(b[12:]); cp != r.hdr.chunkPages {
		return bad(12, 4, "chunk pages %d, header says %d", cp, r.hdr.chunkPages)
	}
	pages, zero := le.Uint64(b[16:]), le.Uint64(b[24:])
	first, last := le.Uint64(b[32:]), le.Uint64(b[40:])
	hd := r.hdrDigest()
	if !bytes.Equal(b[48:64], hd[:]) {
		return bad(48, 16, "header digest %x does not match this file's header (%s): pieces mixed up?", b[48:64], hd)
	}
	r.entries = make([]chunkEntry, n)
	next := int64(headerLen)
	var sumPages, sumZero uint64
	for i := range r.entries {
		eo := int64(footerFixedLen + i*footerEntryLen)
		e := getEntry(b[eo:])
		ebad := func(format string, args ...any) error {
			return bad(eo, footerEntryLen, "entry for chunk %d: "+format, append([]any{i}, args...)...)
		}
		switch {
		case e.offset != next:
			return ebad("offset %d, want %d (chunks must be contiguous)", e.offset, next)
		case e.pages < 1 || e.pages > r.hdr.chunkPages:
			return ebad("%d pages, want 1..%d", e.pages, r.hdr.chunkPages)
		case e.zero > e.pages || e.runs < 1 || e.runs > e.pages:
			return ebad("%d zero pages, %d runs for %d pages", e.zero, e.runs, e.pages)
		case e.length != chunkLen(e.runs, e.pages, e.zero):
			return ebad("length %d, want %d for its counts", e.length, chunkLen(e.runs, e.pages, e.zero))
		case e.first > e.last || e.last-e.first < uint64(e.pages-1):
			return ebad("gfns %d-%d cannot hold %d pages", e.first, e.last, e.pages)
		case i > 0 && e.first <= r.entries[i-1].last:
			return ebad("first gfn %d not after previous chunk's last %d", e.first, r.entries[i-1].last)
		}
		r.entries[i] = e
		next += e.length
		sumPages += uint64(e.pages)
		sumZero += uint64(e.zero)
	}
	if next != off {
		return bad(8, 4, "chunks end at %d, footer starts at %d", next, off)
	}
	if sumPages != pages || sumZero != zero {
		return bad(16, 16, "totals %d pages, %d zero; chunks add up to %d, %d", pages, zero, sumPages, sumZero)
	}
	if n > 0 && (first != r.entries[0].first || last != r.entries[n-1].last) || n == 0 && (first|last) != 0 {
		return bad(32, 16, "gfn span %d-%d does not match the chunks", first, last)
	}
	r.info.Pages, r.info.ZeroPages = int64(pages), int64(zero)
	r.info.FirstGFN, r.info.LastGFN = first, last
	r.info.Digest = want.String()
	return nil
}

func (r *PieceReader) hdrDigest() digest {
	h := r.hdr
	b := h.encode()
	var d digest
	copy(d[:], b[headerLen-digestLen:])
	return d
}

// Info returns the piece's summary from its header and footer.
func (r *PieceReader) Info() PieceInfo { return r.info }

// Chunks returns the footer index.
func (r *PieceReader) Chunks() []ChunkInfo {
	out := make([]ChunkInfo, len(r.entries))
	for i, e := range r.entries {
		out[i] = ChunkInfo{Index: i, Offset: e.offset, Length: e.length, FirstGFN: e.first, LastGFN: e.last,
			Pages: int(e.pages), ZeroPages: int(e.zero), Runs: int(e.runs), Digest: e.digest.String()}
	}
	return out
}

// Close closes the file.
func (r *PieceReader) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
