package hostagent

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"time"

	"dcres/agentrpc"
	"dcres/api"
)

// benchPaging fetches pages homed at p.Home over the peer link, as faults
// do: sequentially in 1 MiB reads (the FUSE readahead size), then single
// pages at random. It only reads, so the guest is not disturbed.
func (v *vm) benchPaging(ctx context.Context, p agentrpc.BenchPagingParams) (*agentrpc.BenchPagingResult, error) {
	home := v.hostIndex(p.Home)
	if home < 0 || home == v.self {
		return nil, fmt.Errorf("host %s is not a remote home of VM %s", p.Home, v.name)
	}
	var first, count uint64
	for _, r := range v.loc.Ranges() {
		if r.Host == p.Home && r.Count > count {
			first, count = r.Start, r.Count
		}
	}
	if count == 0 {
		return nil, fmt.Errorf("host %s is home for no pages of VM %s", p.Home, v.name)
	}
	const chunk = 256 // pages: 1 MiB
	buf := make([]byte, chunk*api.PageSize)
	var done int64
	start := time.Now()
	for g := first; done < p.Bytes; g += chunk {
		if g+chunk > first+count {
			g = first
		}
		if err := v.fetch(ctx, home, g, buf); err != nil {
			return nil, err
		}
		done += int64(len(buf))
	}
	res := &agentrpc.BenchPagingResult{SeqBytesPerSec: float64(done) / time.Since(start).Seconds()}
	rng := rand.New(rand.NewSource(1))
	lat := make([]float64, 0, p.Faults)
	page := buf[:api.PageSize]
	for i := 0; i < p.Faults; i++ {
		g := first + uint64(rng.Int63n(int64(count)))
		t := time.Now()
		if err := v.fetch(ctx, home, g, page); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t).Seconds())
	}
	if len(lat) > 0 {
		sort.Float64s(lat)
		res.FaultP50 = lat[len(lat)/2]
		res.FaultP99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	return res, nil
}
