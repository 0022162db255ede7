package ckpt

import (
	"math"
	"sort"

	"dcres/api"
)

// Each calls fn for every page in gfn order; a zero page is handed out as an
// all-zero page. Every chunk's digest is verified before any of its pages is
// handed out; a mismatch is a Fault naming the file and byte range. page is
// valid only during the call. An error from fn stops the walk and is returned.
func (r *PieceReader) Each(fn func(gfn uint64, page []byte) error) error {
	return r.walk(func(int) bool { return true }, nil, fn)
}

// EachIn is Each restricted to gfns in the given ranges ([Start,
// Start+Count); Host is ignored). Chunks outside every range are not read.
func (r *PieceReader) EachIn(ranges []api.Range, fn func(gfn uint64, page []byte) error) error {
	spans := normalize(ranges)
	if len(spans) == 0 {
		return nil
	}
	// find returns the first span that ends after gfn.
	find := func(gfn uint64) int {
		return sort.Search(len(spans), func(i int) bool { return spans[i].end > gfn })
	}
	chunkWanted := func(i int) bool {
		e := &r.entries[i]
		j := find(e.first)
		return j < len(spans) && spans[j].start <= e.last
	}
	keep := func(gfn uint64) bool {
		j := find(gfn)
		return j < len(spans) && spans[j].start <= gfn
	}
	return r.walk(chunkWanted, keep, fn)
}

type span struct{ start, end uint64 } // [start, end)

// normalize sorts and merges ranges, saturating at the top of the gfn space.
func normalize(ranges []api.Range) []span {
	var s []span
	for _, rg := range ranges {
		if rg.Count == 0 {
			continue
		}
		end := rg.Start + rg.Count
		if end < rg.Start {
			end = math.MaxUint64
		}
		s = append(s, span{rg.Start, end})
	}
	sort.Slice(s, func(i, j int) bool { return s[i].start < s[j].start })
	out := s[:0]
	for _, x := range s {
		if n := len(out); n > 0 && x.start <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, x.end)
			continue
		}
		out = append(out, x)
	}
	return out
}

// walk reads the wanted chunks in batches of consecutive chunks (one large
// read each) and hands their pages to fn.
func (r *PieceReader) walk(want func(int) bool, keep func(uint64) bool, fn func(uint64, []byte) error) error {
	return r.batches(want, func(i int, b []byte, err error) error {
		if err != nil {
			return err
		}
		c, err := r.checkChunk(i, b)
		if err != nil {
			return err
		}
		return r.pages(c, keep, fn)
	})
}

// batches reads every wanted chunk and calls visit with its bytes, or with
// the read error for the chunks a failed read covered. visit's error stops.
func (r *PieceReader) batches(want func(int) bool, visit func(i int, b []byte, err error) error) error {
	n := len(r.entries)
	for i := 0; i < n; {
		if !want(i) {
			i++
			continue
		}
		j, total := i, int64(0)
		for j < n && want(j) && (j == i || total+r.entries[j].length <= readBatch) {
			total += r.entries[j].length
			j++
		}
		if int64(cap(r.buf)) < total {
			// Bounded: entries were checked against chunkLen at open, and a
			// batch exceeds readBatch only when it is a single chunk.
			r.buf = make([]byte, total)
		}
		b := r.buf[:total]
		rerr := r.readAt(b, r.entries[i].offset, "chunk data")
		for k := i; k < j; k++ {
			e := &r.entries[k]
			var err error
			var cb []byte
			if rerr != nil {
				err = fault(r.name, e.offset, e.length, "chunk %d: %v", k, rerr)
			} else {
				o := e.offset - r.entries[i].offset
				cb = b[o : o+e.length]
			}
			if err := visit(k, cb, err); err != nil {
				return err
			}
		}
		i = j
	}
	return nil
}
