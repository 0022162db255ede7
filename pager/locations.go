package pager

import (
	"fmt"
	"sort"
	"sync"

	"dcres/api"
)

// MaxHosts is how many hosts a location table can name (one byte per page).
const MaxHosts = 256

// Locations is the location table: the home of every guest page, as an index
// into Hosts, one byte per page. It is safe for concurrent use.
type Locations struct {
	hosts []string
	mu    sync.RWMutex
	home  []uint8
}

// NewLocations makes a table for npages pages, every page homed at host 0.
// It panics when hosts is empty or longer than MaxHosts: that is a
// configuration the caller must have rejected already.
func NewLocations(hosts []string, npages uint64) *Locations {
	if len(hosts) == 0 || len(hosts) > MaxHosts {
		panic(fmt.Sprintf("pager: a location table needs 1 to %d hosts, got %d", MaxHosts, len(hosts)))
	}
	return &Locations{hosts: append([]string(nil), hosts...), home: make([]uint8, npages)}
}

// Hosts returns the host names, indexed as Home reports them.
func (l *Locations) Hosts() []string { return append([]string(nil), l.hosts...) }

// NPages is the number of pages in the table.
func (l *Locations) NPages() uint64 { return uint64(len(l.home)) }

// Set makes host the home of pages [start, start+count).
func (l *Locations) Set(start, count uint64, host int) {
	if host < 0 || host >= len(l.hosts) {
		panic(fmt.Sprintf("pager: host index %d outside the table's %d hosts", host, len(l.hosts)))
	}
	if start > uint64(len(l.home)) || count > uint64(len(l.home))-start {
		panic(fmt.Sprintf("pager: pages [%d, %d) outside the table's %d pages", start, start+count, len(l.home)))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := start; i < start+count; i++ {
		l.home[i] = uint8(host)
	}
}

// Home returns the index of page gfn's home host.
func (l *Locations) Home(gfn uint64) int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return int(l.home[gfn])
}

// Ranges returns the table as maximal runs of pages with the same home.
func (l *Locations) Ranges() []api.Range {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []api.Range
	for i := 0; i < len(l.home); {
		j := i + 1
		for j < len(l.home) && l.home[j] == l.home[i] {
			j++
		}
		out = append(out, api.Range{Start: uint64(i), Count: uint64(j - i), Host: l.hosts[l.home[i]]})
		i = j
	}
	return out
}

// Clone returns an independent copy of the table.
func (l *Locations) Clone() *Locations {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return &Locations{hosts: append([]string(nil), l.hosts...), home: append([]uint8(nil), l.home...)}
}

// FromRanges rebuilds a table from ranges (as Ranges wrote them, e.g. in a
// manifest). The ranges must name only hosts in hosts and cover every page
// exactly once, in any order.
func FromRanges(hosts []string, npages uint64, rs []api.Range) (*Locations, error) {
	if len(hosts) == 0 || len(hosts) > MaxHosts {
		return nil, fmt.Errorf("pager: a location table needs 1 to %d hosts, got %d", MaxHosts, len(hosts))
	}
	index := make(map[string]int, len(hosts))
	for i, h := range hosts {
		if _, dup := index[h]; dup {
			return nil, fmt.Errorf("pager: host %q is named twice", h)
		}
		index[h] = i
	}
	sorted := append([]api.Range(nil), rs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Start < sorted[j].Start })
	l := NewLocations(hosts, npages)
	var next uint64
	for _, r := range sorted {
		h, ok := index[r.Host]
		if !ok {
			return nil, fmt.Errorf("pager: range [%d, %d) names host %q, which is not one of %v", r.Start, r.Start+r.Count, r.Host, hosts)
		}
		if r.Count == 0 {
			return nil, fmt.Errorf("pager: range at page %d is empty", r.Start)
		}
		if r.Start != next {
			if r.Start < next {
				return nil, fmt.Errorf("pager: range [%d, %d) overlaps the previous one", r.Start, r.Start+r.Count)
			}
			return nil, fmt.Errorf("pager: pages [%d, %d) have no home in the ranges", next, r.Start)
		}
		if r.Count > npages-r.Start {
			return nil, fmt.Errorf("pager: range [%d, %d) runs past the guest's %d pages", r.Start, r.Start+r.Count, npages)
		}
		l.Set(r.Start, r.Count, h)
		next = r.Start + r.Count
	}
	if next != npages {
		return nil, fmt.Errorf("pager: pages [%d, %d) have no home in the ranges", next, npages)
	}
	return l, nil
}

// SplitEven gives every host an equal contiguous share, in host order; the
// last host takes the remainder.
func SplitEven(hosts []string, npages uint64) *Locations {
	shares := make([]float64, len(hosts))
	for i := range shares {
		shares[i] = 1
	}
	return Split(hosts, npages, shares)
}

// Split gives host i a contiguous share proportional to shares[i], in host
// order, rounded down to whole pages; the last host takes the remainder.
// Negative shares count as zero; when no share is positive (or shares has the
// wrong length) the split is even.
func Split(hosts []string, npages uint64, shares []float64) *Locations {
	l := NewLocations(hosts, npages)
	var total float64
	if len(shares) == len(hosts) {
		for _, s := range shares {
			if s > 0 {
				total += s
			}
		}
	}
	if total <= 0 {
		return SplitEven(hosts, npages)
	}
	var start uint64
	for i := range hosts {
		n := npages - start
		if i < len(hosts)-1 {
			s := max(shares[i], 0)
			n = min(uint64(float64(npages)*s/total), npages-start)
		}
		l.Set(start, n, i)
		start += n
	}
	return l
}
