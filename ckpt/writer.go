package ckpt

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/zeebo/xxh3"

	"dcres/api"
)

// PieceOptions name a piece and size its chunks.
type PieceOptions struct {
	Host, VM, CheckpointID string
	// ChunkPages is the most pages (zero pages included) per chunk; the
	// default is 256 (1 MiB of data), the maximum MaxChunkPages.
	ChunkPages int
}

// PieceInfo summarises a complete piece file.
type PieceInfo struct {
	Path, Host       string
	VM, CheckpointID string
	// Pages counts every recorded page, ZeroPages those among them that are
	// all zero (recorded without data), Bytes the file size.
	Pages, ZeroPages, Bytes int64
	// Digest is the hex xxh3-128 of the footer, which covers the header
	// and every chunk digest: one value that names the whole piece.
	Digest            string
	FirstGFN, LastGFN uint64
	ChunkPages        int
}

// PieceWriter writes one piece file sequentially with large buffered writes.
// It is not safe for concurrent use.
type PieceWriter struct {
	path string
	f    *os.File
	opt  PieceOptions
	hdr  []byte
	off  int64
	err  error // sticky: the first error ends the piece
	done bool

	// The chunk being filled. buf holds room for the largest chunk head,
	// then the page data from dataAt, then the digest, so a finished chunk
	// goes to the kernel in one write with no extra copy.
	buf    []byte
	dataAt int
	runs   []run
	bitmap []byte
	data   []byte
	npages uint32
	nzero  uint32

	any         bool
	first, last uint64
	pages, zero int64
	entries     []chunkEntry
}

type run struct{ first, count uint64 }

var zeroPage [api.PageSize]byte

// CreatePiece creates (or truncates) path and writes the piece header. The
// caller must end the writer with Close or Abort.
func CreatePiece(path string, opt PieceOptions) (*PieceWriter, error) {
	for _, n := range [][2]string{{"host", opt.Host}, {"vm", opt.VM}, {"id", opt.CheckpointID}} {
		if err := ValidName(n[0], n[1]); err != nil {
			return nil, fmt.Errorf("ckpt: create piece %s: %w", path, err)
		}
	}
	if opt.ChunkPages == 0 {
		opt.ChunkPages = defaultChunkPgs
	}
	if opt.ChunkPages < 1 || opt.ChunkPages > MaxChunkPages {
		return nil, fmt.Errorf("ckpt: create piece %s: ChunkPages %d out of range [1, %d]", path, opt.ChunkPages, MaxChunkPages)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ckpt: create piece: %w", err)
	}
	cp := uint32(opt.ChunkPages)
	dataAt := chunkHeadLen + int(cp)*runLen + bitmapLen(cp)
	w := &PieceWriter{
		path:   path,
		f:      f,
		opt:    opt,
		bitmap: make([]byte, bitmapLen(cp)),
		buf:    make([]byte, dataAt+int(cp)*api.PageSize+digestLen),
		dataAt: dataAt,
	}
	w.data = w.buf[dataAt : dataAt : len(w.buf)-digestLen]
	hd := header{version: pieceVersion, pageSize: api.PageSize, chunkPages: uint32(opt.ChunkPages),
		host: opt.Host, vm: opt.VM, id: opt.CheckpointID}
	w.hdr = hd.encode()
	w.write(w.hdr)
	if w.err != nil {
		f.Close()
		os.Remove(path)
		return nil, w.err
	}
	return w, nil
}

func (w *PieceWriter) write(b []byte) {
	if w.err != nil {
		return
	}
	n, err := w.f.Write(b)
	w.off += int64(n)
	if err != nil {
		w.err = fmt.Errorf("ckpt: write piece %s: %w", w.path, err)
	}
}

// WritePage records one page; gfns must be strictly increasing over all
// WritePage and WriteRun calls. An all-zero page is recorded without data.
func (w *PieceWriter) WritePage(gfn uint64, page []byte) error {
	if err := w.usable(); err != nil {
		return err
	}
	if len(page) != api.PageSize {
		w.err = fmt.Errorf("ckpt: write piece %s: page for gfn %d has %d bytes, want %d", w.path, gfn, len(page), api.PageSize)
		return w.err
	}
	w.add(gfn, page)
	return w.err
}

// WriteRun records len(pages)/PageSize pages with consecutive gfns from first.
func (w *PieceWriter) WriteRun(first uint64, pages []byte) error {
	if err := w.usable(); err != nil {
		return err
	}
	if len(pages)%api.PageSize != 0 {
		w.err = fmt.Errorf("ckpt: write piece %s: run at gfn %d has %d bytes, not a multiple of %d", w.path, first, len(pages), api.PageSize)
		return w.err
	}
	n := uint64(len(pages) / api.PageSize)
	if n > 0 && first > math.MaxUint64-(n-1) {
		w.err = fmt.Errorf("ckpt: write piece %s: run of %d pages at gfn %d overflows the gfn space", w.path, n, first)
		return w.err
	}
	for i := uint64(0); i < n && w.err == nil; i++ {
		w.add(first+i, pages[i*api.PageSize:(i+1)*api.PageSize])
	}
	return w.err
}

func (w *PieceWriter) usable() error {
	if w.done {
		return errors.New("ckpt: piece writer used after Close or Abort")
	}
	return w.err
}

func (w *PieceWriter) add(gfn uint64, page []byte) {
	if w.any && gfn <= w.last {
		w.err = fmt.Errorf("ckpt: write piece %s: gfn %d after gfn %d; gfns must be strictly increasing", w.path, gfn, w.last)
		return
	}
	if !w.any {
		w.first = gfn
	}
	w.any = true
	w.last = gfn
	if n := len(w.runs); n > 0 && w.runs[n-1].first+w.runs[n-1].count == gfn {
		w.runs[n-1].count++
	} else {
		w.runs = append(w.runs, run{gfn, 1})
	}
	if bytes.Equal(page, zeroPage[:]) {
		w.bitmap[w.npages/8] |= 1 << (w.npages % 8)
		w.nzero++
	} else {
		w.data = append(w.data, page...)
	}
	w.npages++
	if int(w.npages) == w.opt.ChunkPages {
		w.flushChunk()
	}
}

// flushChunk writes the chunk being filled: head, runs, zero bitmap, data,
// digest over all of those.
func (w *PieceWriter) flushChunk() {
	if w.npages == 0 || w.err != nil {
		return
	}
	bl := bitmapLen(w.npages)
	metaLen := chunkHeadLen + len(w.runs)*runLen + bl
	start := w.dataAt - metaLen
	meta := w.buf[start:w.dataAt]
	le.PutUint32(meta[0:], chunkMagic)
	le.PutUint32(meta[4:], 0)
	le.PutUint32(meta[8:], uint32(len(w.runs)))
	le.PutUint32(meta[12:], w.npages)
	le.PutUint32(meta[16:], w.nzero)
	p := meta[chunkHeadLen:]
	for _, r := range w.runs {
		le.PutUint64(p[0:], r.first)
		le.PutUint64(p[8:], r.count)
		p = p[runLen:]
	}
	copy(p, w.bitmap[:bl])
	end := w.dataAt + len(w.data)
	d := sum128(w.buf[start:end])
	copy(w.buf[end:], d[:])
	e := chunkEntry{
		offset: w.off,
		first:  w.runs[0].first,
		last:   w.last,
		pages:  w.npages,
		zero:   w.nzero,
		runs:   uint32(len(w.runs)),
		digest: d,
	}
	w.write(w.buf[start : end+digestLen])
	e.length = w.off - e.offset
	w.entries = append(w.entries, e)
	w.pages += int64(w.npages)
	w.zero += int64(w.nzero)
	w.runs = w.runs[:0]
	clear(w.bitmap)
	w.data = w.data[:0]
	w.npages, w.nzero = 0, 0
}

// Close writes the last chunk, the footer index and the trailer, and fsyncs
// the file. If any earlier call failed (out-of-order gfn, short page, I/O
// error), Close returns that error and removes the file, so an incomplete
// piece never lies around looking like one.
func (w *PieceWriter) Close() (PieceInfo, error) {
	if w.done {
		return PieceInfo{}, errors.New("ckpt: piece writer closed twice")
	}
	w.done = true
	w.flushChunk()
	footerOff := w.off
	footer := w.footer()
	w.write(footer)
	tr := make([]byte, trailerLen)
	copy(tr, trailerMagic)
	le.PutUint64(tr[8:], uint64(footerOff))
	le.PutUint64(tr[16:], uint64(len(footer)))
	le.PutUint64(tr[24:], xxh3.Hash(tr[:24]))
	w.write(tr)
	if w.err == nil {
		if err := w.f.Sync(); err != nil {
			w.err = fmt.Errorf("ckpt: fsync piece %s: %w", w.path, err)
		}
	}
	if err := w.f.Close(); err != nil && w.err == nil {
		w.err = fmt.Errorf("ckpt: close piece %s: %w", w.path, err)
	}
	if w.err != nil {
		os.Remove(w.path)
		return PieceInfo{}, w.err
	}
	var fd digest
	copy(fd[:], footer[len(footer)-digestLen:])
	return PieceInfo{
		Path: w.path, Host: w.opt.Host, VM: w.opt.VM, CheckpointID: w.opt.CheckpointID,
		Pages: w.pages, ZeroPages: w.zero, Bytes: w.off, Digest: fd.String(),
		FirstGFN: w.first, LastGFN: w.last, ChunkPages: w.opt.ChunkPages,
	}, nil
}

func (w *PieceWriter) footer() []byte {
	b := make([]byte, footerFixedLen+len(w.entries)*footerEntryLen+digestLen)
	le.PutUint32(b[0:], footerMagic)
	le.PutUint32(b[4:], pieceVersion)
	le.PutUint32(b[8:], uint32(len(w.entries)))
	le.PutUint32(b[12:], uint32(w.opt.ChunkPages))
	le.PutUint64(b[16:], uint64(w.pages))
	le.PutUint64(b[24:], uint64(w.zero))
	le.PutUint64(b[32:], w.first)
	le.PutUint64(b[40:], w.last)
	copy(b[48:64], w.hdr[headerLen-digestLen:])
	p := b[footerFixedLen:]
	for i := range w.entries {
		w.entries[i].put(p)
		p = p[footerEntryLen:]
	}
	d := sum128(b[:len(b)-digestLen])
	copy(b[len(b)-digestLen:], d[:])
	return b
}

// Abort closes the writer and removes the file, whatever state it is in.
func (w *PieceWriter) Abort() error {
	if !w.done {
		w.done = true
		w.f.Close()
	}
	if err := os.Remove(w.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ckpt: abort piece: %w", err)
	}
	return nil
}
