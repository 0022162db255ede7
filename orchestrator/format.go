package orchestrator

import (
	"dcres/api"
	"dcres/internal/units"
)

func fmtBytes(n int64) string { return units.FormatBytes(n) }

// memMap turns a location table into at most cells cells for the console.
func memMap(locs []api.Range, target []api.Range, cells int) *api.MemMap {
	var npages uint64
	for _, r := range locs {
		npages = max(npages, r.Start+r.Count)
	}
	if npages == 0 {
		return &api.MemMap{}
	}
	per := (npages + uint64(cells) - 1) / uint64(cells)
	n := int((npages + per - 1) / per)
	mm := &api.MemMap{PagesPerCell: per, Home: make([]string, n)}
	fill := func(dst []string, rs []api.Range) {
		for _, r := range rs {
			// The cell's host is the host of the page at its middle: cheap, and
			// right for the contiguous ranges profiles make.
			for c := r.Start / per; c < (r.Start+r.Count+per-1)/per && int(c) < n; c++ {
				mid := c*per + per/2
				if mid >= r.Start && mid < r.Start+r.Count {
					dst[c] = r.Host
				} else if dst[c] == "" {
					dst[c] = r.Host
				}
			}
		}
	}
	fill(mm.Home, locs)
	if target != nil {
		mm.Target = make([]string, n)
		fill(mm.Target, target)
	}
	return mm
}
