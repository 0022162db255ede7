package pager

import (
	"math/bits"
	"sync/atomic"
)

// bitmap is a fixed-size set of page numbers that is safe for concurrent use:
// every word is updated atomically, so presence and written bits can be set
// by concurrent accessors without a lock.
type bitmap struct {
	words []atomic.Uint64
	n     uint64
}

func newBitmap(n uint64) *bitmap {
	return &bitmap{words: make([]atomic.Uint64, (n+63)/64), n: n}
}

// set sets bit i and reports whether it was clear before.
func (b *bitmap) set(i uint64) bool {
	m := uint64(1) << (i % 64)
	return b.words[i/64].Or(m)&m == 0
}

func (b *bitmap) get(i uint64) bool {
	return b.words[i/64].Load()&(uint64(1)<<(i%64)) != 0
}

// clearRange clears bits [start, start+count) and returns how many were set.
func (b *bitmap) clearRange(start, count uint64) uint64 {
	var cleared uint64
	end := start + count
	for i := start; i < end; {
		w := i / 64
		lo := i % 64
		hi := uint64(64)
		if (w+1)*64 > end {
			hi = end - w*64
		}
		var m uint64
		if hi-lo == 64 {
			m = ^uint64(0)
		} else {
			m = ((uint64(1) << (hi - lo)) - 1) << lo
		}
		old := b.words[w].And(^m)
		cleared += uint64(bits.OnesCount64(old & m))
		i = w*64 + hi
	}
	return cleared
}

// runs returns the set bits as runs; with take, it also clears every word it
// read, atomically per word, so a bit set concurrently is either reported now
// or kept for the next call, never lost.
func (b *bitmap) runs(take bool) []Run {
	var out []Run
	for w := range b.words {
		var v uint64
		if take {
			v = b.words[w].Swap(0)
		} else {
			v = b.words[w].Load()
		}
		for v != 0 {
			tz := uint64(bits.TrailingZeros64(v))
			ones := uint64(bits.TrailingZeros64(^(v >> tz)))
			start := uint64(w)*64 + tz
			if n := len(out); n > 0 && out[n-1].Start+out[n-1].Count == start {
				out[n-1].Count += ones
			} else {
				out = append(out, Run{Start: start, Count: ones})
			}
			if tz+ones >= 64 {
				break
			}
			v &^= ((uint64(1) << ones) - 1) << tz
		}
	}
	return out
}
