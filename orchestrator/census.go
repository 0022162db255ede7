package orchestrator

import (
	"context"
	"fmt"
	"math/bits"
	"sync"

	"golang.org/x/sync/errgroup"

	"dcres/agentrpc"
	"dcres/api"
)

// census asks every source of the plan which of its pages carry data and
// tallies the plan with those counts: zero pages are elided in pieces, so
// they cost no disk read and no network. A source that cannot say (an
// agent without the method) leaves the plan counting every page, with a
// warning.
func (s *Session) census(ctx context.Context, vm string, rp *restorePlan) {
	type key struct{ host, id, of string }
	maps := map[key][]byte{}
	for _, srcs := range rp.sources {
		for _, sr := range srcs {
			maps[key{sr.host, sr.id, sr.of}] = nil
		}
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for k := range maps {
		h, err := s.host(k.host)
		if err != nil {
			continue
		}
		g.Go(func() error {
			id := k.id
			if id == "" {
				id = rp.api.Checkpoint
			}
			var res agentrpc.CensusResult
			if err := h.call(gctx, agentrpc.Census, agentrpc.CensusParams{VM: vm, ID: id, Of: k.of}, &res); err != nil {
				return fmt.Errorf("%s: %w", k.host, err)
			}
			mu.Lock()
			maps[k] = res.NonZero
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		s.emit(api.Event{Type: api.EvLog, Level: api.Warn, Message: fmt.Sprintf("restore plan of %s counts every page as data: no census of zero pages from %v", rp.api.Checkpoint, err)})
		return
	}
	rp.tally(func(sr sourceRanges) int64 {
		return countBits(maps[key{sr.host, sr.id, sr.of}], sr.ranges)
	})
}

// countBits counts the set bits of bitmap (LSB first) in ranges.
func countBits(bitmap []byte, ranges []api.Range) int64 {
	var n int64
	for _, r := range ranges {
		g, end := r.Start, r.Start+r.Count
		for g < end && g%8 != 0 {
			n += int64(bit(bitmap, g))
			g++
		}
		for ; g+8 <= end; g += 8 {
			if i := g / 8; i < uint64(len(bitmap)) {
				n += int64(bits.OnesCount8(bitmap[i]))
			}
		}
		for ; g < end; g++ {
			n += int64(bit(bitmap, g))
		}
	}
	return n
}

func bit(bitmap []byte, g uint64) byte {
	if g/8 >= uint64(len(bitmap)) {
		return 0
	}
	return bitmap[g/8] >> (g % 8) & 1
}
