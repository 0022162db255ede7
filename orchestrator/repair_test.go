package orchestrator

import (
	"testing"

	"dcres/api"
	"dcres/ckpt"
)

// TestTallyLeavesOutZeroPages: with a census, a plan counts only pages with
// data as bytes to move; the page counts stay (they are memory to hold).
func TestTallyLeavesOutZeroPages(t *testing.T) {
	m := manifest(1024, threeHosts, nil, "main", "sub1", "sub2")
	p, _ := parsePlacement("single:main", m, known)
	rp, err := plan([]*ckpt.Manifest{m}, p, 0, 8e9)
	if err != nil {
		t.Fatal(err)
	}
	if rp.api.Targets[0].PullBytes != 512*api.PageSize {
		t.Fatalf("without a census: pull %d", rp.api.Targets[0].PullBytes)
	}
	// sub1's pages have data in their first 100; sub2's are all zero.
	nonzero := make([]byte, 1024/8)
	for g := 512; g < 612; g++ {
		nonzero[g/8] |= 1 << (g % 8)
	}
	for g := 0; g < 512; g += 2 {
		nonzero[g/8] |= 1 << (g % 8)
	}
	rp.tally(func(sr sourceRanges) int64 { return countBits(nonzero, sr.ranges) })
	tg := rp.api.Targets[0]
	if tg.Pages != 1024 || tg.ZeroPages != 1024-100-256 || tg.PullBytes != 100*api.PageSize || tg.LocalBytes != 256*api.PageSize {
		t.Fatalf("target %+v", tg)
	}
	if len(rp.api.Links) != 1 || rp.api.Links[0].From != "sub1" || rp.api.Links[0].Bytes != 100*api.PageSize {
		t.Fatalf("links %+v (sub2 sends nothing)", rp.api.Links)
	}
	if want := float64(100*api.PageSize*8) / 8e9; rp.api.Seconds != want {
		t.Fatalf("seconds %g, want %g", rp.api.Seconds, want)
	}
}

func TestCountBits(t *testing.T) {
	bm := []byte{0xff, 0x0f, 0x01}
	for _, c := range []struct {
		start, count uint64
		want         int64
	}{{0, 24, 13}, {3, 2, 2}, {4, 10, 8}, {12, 4, 0}, {16, 1, 1}, {20, 100, 0}, {7, 9, 5}} {
		if got := countBits(bm, []api.Range{{Start: c.start, Count: c.count}}); got != c.want {
			t.Errorf("countBits(%d+%d) = %d, want %d", c.start, c.count, got, c.want)
		}
	}
}

func redundantManifest() *ckpt.Manifest {
	m := manifest(1024, threeHosts, nil, "main", "sub1", "sub2")
	m.DeviceState = &ckpt.FileRef{Host: "main", File: "device.bin"}
	for _, r := range [][3]string{{"main", "piece-main.dcp", "sub1"}, {"main", "device.bin", "sub1"}, {"sub1", "piece-sub1.dcp", "sub2"}, {"sub2", "piece-sub2.dcp", "main"}} {
		m.Replicas = append(m.Replicas, ckpt.Replica{Of: r[0], Original: r[1], FileRef: ckpt.FileRef{Host: r[2], File: replicaName(r[0], r[1])}})
	}
	return m
}

// TestHealth: every file's good copies, with a lost host and a damaged file.
func TestHealth(t *testing.T) {
	m := redundantManifest()
	has := map[string]bool{"main": true, "sub1": true}
	bad := map[string]map[string]bool{"main": {"piece-main.dcp": true}}
	hs := health(m, has, bad)
	got := map[string]api.FileHealth{}
	for _, h := range hs {
		got[h.Of+"/"+h.File] = h
	}
	if len(hs) != 4 || got["main/device.bin"].Good != 2 || got["main/device.bin"].Want != 2 {
		t.Fatalf("health %+v", hs)
	}
	if h := got["main/piece-main.dcp"]; h.Good != 1 || len(h.Lost) != 1 || h.Lost[0] != "main" || h.Copies[0] != "sub1" {
		t.Errorf("main's damaged piece: %+v", h)
	}
	if h := got["sub1/piece-sub1.dcp"]; h.Good != 1 || h.Lost[0] != "sub2" {
		t.Errorf("sub1's piece, its replica's host lost: %+v", h)
	}
	if h := got["sub2/piece-sub2.dcp"]; h.Good != 1 || h.Lost[0] != "sub2" {
		t.Errorf("sub2's piece, its host lost: %+v", h)
	}
	if unhealthy(hs) != 3 {
		t.Errorf("%d unhealthy, want 3", unhealthy(hs))
	}
	// Without replicas every file wants one copy; Copies overrides.
	plain := manifest(1024, threeHosts, nil, "main", "sub1", "sub2")
	if w := wantCopies(plain, ckptFiles(plain)); w != 1 {
		t.Errorf("want %d copies without replicas", w)
	}
	m.Copies = 3
	if w := wantCopies(m, ckptFiles(m)); w != 3 {
		t.Errorf("want %d copies with Copies 3", w)
	}
}
