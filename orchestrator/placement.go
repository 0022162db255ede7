package orchestrator

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"dcres/api"
	"dcres/ckpt"
)

// placement is a parsed restore placement: target hosts and their shares.
type placement struct {
	same   bool
	hosts  []string
	shares []float64
	exact  map[string]uint64 // pages per host, when same
}

// parsePlacement reads "same", "single:HOST" or "HOST=P%,HOST=P%".
func parsePlacement(s string, m *ckpt.Manifest, known func(string) bool) (placement, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" || s == "same":
		return placement{same: true}, nil
	case strings.HasPrefix(s, "single:"):
		h := strings.TrimPrefix(s, "single:")
		if !known(h) {
			return placement{}, fmt.Errorf("placement %q: host %q is not in this session", s, h)
		}
		return placement{hosts: []string{h}, shares: []float64{1}}, nil
	}
	var p placement
	var sum float64
	for _, part := range strings.Split(s, ",") {
		name, pct, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return placement{}, fmt.Errorf("placement %q: %q is not HOST=PERCENT%% (e.g. main=50%%,sub1=50%%)", s, part)
		}
		if !known(name) {
			return placement{}, fmt.Errorf("placement %q: host %q is not in this session", s, name)
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(pct, "%"), 64)
		if err != nil || v <= 0 || !strings.HasSuffix(pct, "%") {
			return placement{}, fmt.Errorf("placement %q: share %q of %s is not a positive percentage", s, pct, name)
		}
		p.hosts = append(p.hosts, name)
		p.shares = append(p.shares, v/100)
		sum += v
	}
	if math.Abs(sum-100) > 0.01 {
		return placement{}, fmt.Errorf("placement %q: shares sum to %.4g%%, not 100%%", s, sum)
	}
	return p, nil
}

// restorePlan is a plan with what the agents need to carry it out.
type restorePlan struct {
	api       api.Plan
	main      string
	hosts     []string    // location table host order of the restored VM
	locations []api.Range // the restored VM's location table
	// sources: for every target, where each of its pages comes from.
	sources  map[string][]sourceRanges
	pageSize int64
	linkRate int64 // bits/s, 0 when unknown
}

type sourceRanges struct {
	host   string
	id     string // the checkpoint whose piece on host holds the pages
	of     string // set when host serves its replica of this host's pieces
	ranges []api.Range
}

// of0 is the host whose pieces these are.
func (s sourceRanges) of0() string {
	if s.of != "" {
		return s.of
	}
	return s.host
}

// chunkPages is the unit the planner moves pages in when it must move them
// (2 MiB, as the split-memory prototype does): fewer, larger transfers.
const chunkPages = 512

// plan assigns every page a target host: each page stays on the host whose
// piece holds its authoritative copy while that host has room, and the rest
// go, chunk by chunk, to the target with the most room left, which balances
// the links. linkRate is bits/s (0: no time estimate).
//
// The first pin pages must stay on the main host (a QEMU guest's node 0, its
// shared-memory boot memory).
//
// chain is the checkpoint to restore, last, after its ancestors (a full
// checkpoint first, then incrementals); a full checkpoint is a chain of one.
func plan(chain []*ckpt.Manifest, p placement, pin uint64, linkRate int64) (*restorePlan, error) {
	m := chain[len(chain)-1]
	npages := uint64(m.MemoryBytes / int64(m.PageSize))
	// src[g]: index into srcs of the piece holder whose copy of page g wins.
	srcs, src, err := authoritative(chain, npages)
	if err != nil {
		return nil, err
	}
	srcHosts := make([]string, len(srcs))
	for i, k := range srcs {
		srcHosts[i] = k.host
	}
	if p.same {
		p.hosts, p.shares = nil, nil
		// The homes at the cut, whoever saved their pages (for a traditional
		// checkpoint, the main host saved them all).
		count := map[string]uint64{}
		for _, r := range m.Locations {
			if count[r.Host] == 0 {
				p.hosts = append(p.hosts, r.Host)
			}
			count[r.Host] += r.Count
		}
		for _, h := range p.hosts {
			p.shares = append(p.shares, float64(count[h])/float64(npages))
		}
		p.exact = count
	}
	main := m.Main
	mainAt := -1
	for i, h := range p.hosts {
		if h == main {
			mainAt = i
		}
	}
	if mainAt < 0 {
		return nil, fmt.Errorf("placement leaves out %s, the host the guest runs on and whose disk holds its device state; include it (restoring onto another main host is not supported yet)", main)
	}
	// Main first in the restored location table's host order.
	hosts := append([]string{main}, append(append([]string(nil), p.hosts[:mainAt]...), p.hosts[mainAt+1:]...)...)
	shares := append([]float64{p.shares[mainAt]}, append(append([]float64(nil), p.shares[:mainAt]...), p.shares[mainAt+1:]...)...)
	capacity := make([]uint64, len(hosts))
	var assigned uint64
	for i := range hosts {
		capacity[i] = uint64(math.Floor(shares[i] * float64(npages)))
		assigned += capacity[i]
	}
	capacity[0] += npages - assigned // rounding remainder to the main host
	if p.exact != nil {
		for i, h := range hosts {
			capacity[i] = p.exact[h]
		}
	}

	target := make([]int8, npages)
	for g := range target {
		target[g] = -1
	}
	tIndex := map[string]int{}
	for i, h := range hosts {
		tIndex[h] = i
	}
	left := append([]uint64(nil), capacity...)
	if pin > npages {
		pin = npages
	}
	if left[0] < pin {
		return nil, fmt.Errorf("placement gives %s %d pages, fewer than the %d of the guest's node 0, which must stay there", main, left[0], pin)
	}
	for g := uint64(0); g < pin; g++ {
		target[g] = 0
	}
	left[0] -= pin
	// Pass 1: pages stay where their saved copy is.
	for g := pin; g < npages; g++ {
		if t, ok := tIndex[srcHosts[src[g]]]; ok && left[t] > 0 {
			target[g] = int8(t)
			left[t]--
		}
	}
	// Pass 2: the rest in chunks to the target with the most room.
	for g := uint64(0); g < npages; {
		if target[g] >= 0 {
			g++
			continue
		}
		best := 0
		for t := range left {
			if left[t] > left[best] {
				best = t
			}
		}
		if left[best] == 0 {
			return nil, fmt.Errorf("placement has no room for page %d: the targets' shares do not cover the guest's memory", g)
		}
		for n := 0; n < chunkPages && g < npages && left[best] > 0; g++ {
			if target[g] < 0 {
				target[g] = int8(best)
				left[best]--
				n++
			}
		}
	}

	rp := &restorePlan{main: main, hosts: hosts, sources: map[string][]sourceRanges{}, pageSize: int64(m.PageSize), linkRate: linkRate}
	rp.api.Checkpoint = m.ID
	rp.locations = runsOf(target, hosts)
	rp.api.Ranges = rp.locations
	// Sources per target.
	type key struct{ t, s int }
	srcRuns := map[key][]api.Range{}
	for g := uint64(0); g < npages; g++ {
		k := key{int(target[g]), int(src[g])}
		rs := srcRuns[k]
		if n := len(rs); n > 0 && rs[n-1].Start+rs[n-1].Count == g {
			rs[n-1].Count++
		} else {
			rs = append(rs, api.Range{Start: g, Count: 1, Host: srcHosts[src[g]]})
		}
		srcRuns[k] = rs
	}
	for t, th := range hosts {
		for s, sh := range srcHosts {
			if rs := srcRuns[key{t, s}]; len(rs) > 0 {
				rp.sources[th] = append(rp.sources[th], sourceRanges{host: sh, id: srcs[s].id, ranges: rs})
			}
		}
	}
	rp.tally(nil)
	return rp, nil
}

// tally fills in the plan's figures from its sources: pages and bytes per
// target, bytes per link, and the expected network time (the busiest
// host's link, in or out, at the link rate). nonZero, when set, says how
// many of a source's pages carry data: zero pages are elided in pieces, so
// nothing is read or moved for them. Without it every page counts.
func (rp *restorePlan) tally(nonZero func(sourceRanges) int64) {
	rp.api.Targets, rp.api.Links, rp.api.Seconds = nil, nil, 0
	in := map[string]int64{}
	out := map[string]int64{}
	for _, th := range rp.hosts {
		pt := api.PlanTarget{Host: th}
		for _, sr := range rp.sources[th] {
			var pages int64
			for _, r := range sr.ranges {
				pages += int64(r.Count)
			}
			data := pages
			if nonZero != nil {
				data = nonZero(sr)
			}
			pt.Pages += pages
			pt.ZeroPages += pages - data
			b := data * rp.pageSize
			if sr.host == th {
				pt.LocalBytes += b
			} else if b > 0 {
				pt.PullBytes += b
				rp.api.Links = addLink(rp.api.Links, sr.host, th, b)
				in[th] += b
				out[sr.host] += b
			}
		}
		rp.api.Targets = append(rp.api.Targets, pt)
	}
	if rp.linkRate > 0 {
		var worst int64
		for _, b := range in {
			worst = max(worst, b)
		}
		for _, b := range out {
			worst = max(worst, b)
		}
		rp.api.Seconds = float64(worst*8) / float64(rp.linkRate)
	}
}

// srcKey is a piece holder: a host's pieces of one checkpoint.
type srcKey struct{ id, host string }

// authoritative says, for every page, whose copy to restore: along the
// chain, the last checkpoint that holds the page; within a checkpoint, the
// main host's piece for its overrides (dirty cached pages at the cut), else
// the page's home at the cut.
func authoritative(chain []*ckpt.Manifest, npages uint64) ([]srcKey, []uint16, error) {
	var keys []srcKey
	index := map[srcKey]uint16{}
	idx := func(k srcKey) uint16 {
		if i, ok := index[k]; ok {
			return i
		}
		index[k] = uint16(len(keys))
		keys = append(keys, k)
		return index[k]
	}
	src := make([]uint16, npages)
	apply := func(m *ckpt.Manifest, what string, rs []api.Range, holder func(string) string) error {
		for _, r := range rs {
			if r.Start+r.Count > npages || r.Start+r.Count < r.Start {
				return fmt.Errorf("checkpoint %s: %s range %d+%d is outside its %d pages", m.ID, what, r.Start, r.Count, npages)
			}
			i := idx(srcKey{m.ID, holder(r.Host)})
			for g := r.Start; g < r.Start+r.Count; g++ {
				src[g] = i
			}
		}
		return nil
	}
	same := func(h string) string { return h }
	for n, m := range chain {
		if uint64(m.MemoryBytes/int64(m.PageSize)) != npages {
			return nil, nil, fmt.Errorf("checkpoint %s has %d bytes of memory, its chain's last %d pages", m.ID, m.MemoryBytes, npages)
		}
		if n == 0 {
			var covered uint64
			for _, r := range m.Locations {
				covered += r.Count
			}
			if covered != npages {
				return nil, nil, fmt.Errorf("checkpoint %s: its location table covers %d of %d pages", m.ID, covered, npages)
			}
			if err := apply(m, "location", m.Locations, func(h string) string { return pieceHolder(m, h) }); err != nil {
				return nil, nil, err
			}
		} else if err := apply(m, "contains", m.Contains, same); err != nil {
			return nil, nil, err
		}
		if err := apply(m, "override", m.Overrides, same); err != nil {
			return nil, nil, err
		}
	}
	return keys, src, nil
}

// pieceHolder is the host whose piece holds the pages homed at home: itself
// for dcres, the main host for a traditional (gathered) checkpoint.
func pieceHolder(m *ckpt.Manifest, home string) string {
	for _, p := range m.Pieces {
		if p.Host == home {
			return home
		}
	}
	return m.Main
}

func runsOf(target []int8, hosts []string) []api.Range {
	var out []api.Range
	for g, t := range target {
		h := hosts[t]
		if n := len(out); n > 0 && out[n-1].Host == h && out[n-1].Start+out[n-1].Count == uint64(g) {
			out[n-1].Count++
			continue
		}
		out = append(out, api.Range{Start: uint64(g), Count: 1, Host: h})
	}
	return out
}

// addLink adds b bytes to the link from -> to (pieces of several checkpoints
// of a chain can cross the same link).
func addLink(links []api.PlanLink, from, to string, b int64) []api.PlanLink {
	for i := range links {
		if links[i].From == from && links[i].To == to {
			links[i].Bytes += b
			return links
		}
	}
	return append(links, api.PlanLink{From: from, To: to, Bytes: b})
}
