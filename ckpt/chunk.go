package ckpt

import (
	"bytes"

	"dcres/api"
)

// parsedChunk is a chunk whose digest and structure have been checked.
type parsedChunk struct {
	runs   []run
	bitmap []byte
	data   []byte
}

// checkChunk verifies chunk i held in b (exactly its bytes) and parses it.
// The digest is checked first, so a structural fault after a good digest
// means the writer was wrong, not the disk.
func (r *PieceReader) checkChunk(i int, b []byte) (parsedChunk, error) {
	e := &r.entries[i]
	bad := func(format string, args ...any) error {
		return fault(r.name, e.offset, e.length, "chunk %d (gfns %d-%d): "+format,
			append([]any{i, e.first, e.last}, args...)...)
	}
	body := b[:len(b)-digestLen]
	got := sum128(body)
	if got != e.digest {
		return parsedChunk{}, bad("digest mismatch: index says %s, data hashes to %s", e.digest, got)
	}
	if !bytes.Equal(b[len(body):], e.digest[:]) {
		return parsedChunk{}, bad("digest stored after the chunk (%x) differs from the index (%s)", b[len(body):], e.digest)
	}
	if m := le.Uint32(b[0:]); m != chunkMagic {
		return parsedChunk{}, bad("bad chunk magic %#x", m)
	}
	if fl := le.Uint32(b[4:]); fl != 0 {
		return parsedChunk{}, bad("unknown chunk flags %#x", fl)
	}
	if le.Uint32(b[8:]) != e.runs || le.Uint32(b[12:]) != e.pages || le.Uint32(b[16:]) != e.zero {
		return parsedChunk{}, bad("chunk head counts (%d runs, %d pages, %d zero) differ from the index", le.Uint32(b[8:]), le.Uint32(b[12:]), le.Uint32(b[16:]))
	}
	p := b[chunkHeadLen:]
	runs := make([]run, e.runs)
	var total uint64
	for k := range runs {
		rn := run{le.Uint64(p[0:]), le.Uint64(p[8:])}
		p = p[runLen:]
		switch {
		case rn.count == 0 || rn.count > uint64(e.pages):
			return parsedChunk{}, bad("run %d has %d pages", k, rn.count)
		case rn.first < e.first || rn.first > e.last || e.last-rn.first < rn.count-1:
			return parsedChunk{}, bad("run %d (%d+%d) outside the chunk's gfns", k, rn.first, rn.count)
		case k > 0 && rn.first-runs[k-1].first < runs[k-1].count:
			return parsedChunk{}, bad("run %d at gfn %d overlaps or precedes run %d", k, rn.first, k-1)
		}
		runs[k] = rn
		total += rn.count
	}
	if total != uint64(e.pages) || runs[0].first != e.first || runs[len(runs)-1].first+runs[len(runs)-1].count-1 != e.last {
		return parsedChunk{}, bad("runs add up to %d pages, want %d, or do not span the chunk's gfns", total, e.pages)
	}
	bl := bitmapLen(e.pages)
	bm := p[:bl]
	if popcount(bm) != int(e.zero) {
		return parsedChunk{}, bad("zero-page bitmap marks %d pages, index says %d", popcount(bm), e.zero)
	}
	if rem := e.pages % 8; rem != 0 && bm[bl-1]>>rem != 0 {
		return parsedChunk{}, bad("zero-page bitmap has bits set past the last page")
	}
	return parsedChunk{runs: runs, bitmap: bm, data: p[bl:]}, nil
}

// pages calls fn for every page of a checked chunk whose gfn keep accepts.
func (r *PieceReader) pages(c parsedChunk, keep func(uint64) bool, fn func(uint64, []byte) error) error {
	if r.zero == nil {
		r.zero = make([]byte, api.PageSize)
	}
	k, d := 0, 0
	for _, rn := range c.runs {
		for j := uint64(0); j < rn.count; j++ {
			gfn := rn.first + j
			isZero := c.bitmap[k/8]&(1<<(k%8)) != 0
			k++
			var page []byte
			if isZero {
				page = r.zero
			} else {
				page = c.data[d*api.PageSize : (d+1)*api.PageSize]
				d++
			}
			if keep != nil && !keep(gfn) {
				continue
			}
			if isZero {
				// Cleared every time: a callback that scribbles on the page
				// must not turn later zero pages into garbage.
				clear(r.zero)
			}
			if err := fn(gfn, page); err != nil {
				return err
			}
		}
	}
	return nil
}
