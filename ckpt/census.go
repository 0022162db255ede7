package ckpt

// Census calls fn for every page of the piece, in gfn order, saying whether
// it is a zero page (recorded, but carrying no data). It reads only the
// footer index and, for chunks with several runs or some zero pages, each
// chunk's runs and zero bitmap, never page data; chunk digests are not
// checked (it is for estimates: Each and Verify check them).
func (r *PieceReader) Census(fn func(gfn uint64, zero bool)) error {
	for i := range r.entries {
		e := &r.entries[i]
		if e.runs == 1 && (e.zero == 0 || e.zero == e.pages) {
			for g := e.first; g <= e.last; g++ {
				fn(g, e.zero != 0)
			}
			continue
		}
		n := int64(chunkHeadLen) + int64(e.runs)*runLen + int64(bitmapLen(e.pages))
		if n > e.length {
			return fault(r.name, e.offset, e.length, "chunk %d: %d runs and %d pages do not fit its %d bytes", i, e.runs, e.pages, e.length)
		}
		b := make([]byte, n)
		if err := r.readAt(b, e.offset, "chunk head"); err != nil {
			return err
		}
		if le.Uint32(b[0:]) != chunkMagic || le.Uint32(b[8:]) != e.runs || le.Uint32(b[12:]) != e.pages {
			return fault(r.name, e.offset, n, "chunk %d: its head differs from the index", i)
		}
		bm := b[chunkHeadLen+int(e.runs)*runLen:]
		k := uint32(0)
		for j := uint32(0); j < e.runs; j++ {
			p := b[chunkHeadLen+int(j)*runLen:]
			first, count := le.Uint64(p[0:]), le.Uint64(p[8:])
			if count > uint64(e.pages-k) {
				return fault(r.name, e.offset, n, "chunk %d: run %d has %d pages, more than the chunk's", i, j, count)
			}
			for c := uint64(0); c < count; c++ {
				fn(first+c, bm[k/8]&(1<<(k%8)) != 0)
				k++
			}
		}
	}
	return nil
}
