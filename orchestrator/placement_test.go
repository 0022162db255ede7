package orchestrator

import (
	"fmt"
	"strings"
	"testing"

	"dcres/api"
	"dcres/ckpt"
)

func manifest(npages uint64, locs []api.Range, overrides []api.Range, pieceHosts ...string) *ckpt.Manifest {
	m := &ckpt.Manifest{ID: "c1", Main: "main", MemoryBytes: int64(npages) * api.PageSize, PageSize: api.PageSize,
		Locations: locs, Overrides: overrides}
	seen := map[string]bool{}
	for _, r := range locs {
		if !seen[r.Host] {
			seen[r.Host] = true
			m.Hosts = append(m.Hosts, r.Host)
		}
	}
	for _, h := range pieceHosts {
		m.Pieces = append(m.Pieces, ckpt.PieceRef{Host: h, File: "piece-" + h + ".dcp"})
	}
	return m
}

var threeHosts = []api.Range{{Start: 0, Count: 512, Host: "main"}, {Start: 512, Count: 256, Host: "sub1"}, {Start: 768, Count: 256, Host: "sub2"}}

func known(string) bool { return true }

// pagesFrom sums, per target, the pages coming from each source.
func pagesFrom(rp *restorePlan) map[[2]string]uint64 {
	out := map[[2]string]uint64{}
	for t, srcs := range rp.sources {
		for _, s := range srcs {
			for _, r := range s.ranges {
				out[[2]string{t, s.host}] += r.Count
			}
		}
	}
	return out
}

func TestPlanSamePlacementMovesOnlyOverrides(t *testing.T) {
	m := manifest(1024, threeHosts, []api.Range{{Start: 600, Count: 10, Host: "main"}}, "main", "sub1", "sub2")
	p, _ := parsePlacement("same", m, known)
	rp, err := plan([]*ckpt.Manifest{m}, p, 0, 1e9)
	if err != nil {
		t.Fatal(err)
	}
	if len(rp.locations) != 3 || rp.locations[1] != (api.Range{Start: 512, Count: 256, Host: "sub1"}) {
		t.Fatalf("locations %v", rp.locations)
	}
	got := pagesFrom(rp)
	if got[[2]string{"sub1", "main"}] != 10 || got[[2]string{"sub1", "sub1"}] != 246 || got[[2]string{"main", "main"}] != 512 {
		t.Fatalf("sources %v", got)
	}
	if len(rp.api.Links) != 1 || rp.api.Links[0].Bytes != 10*api.PageSize {
		t.Fatalf("links %v", rp.api.Links)
	}
}

func TestPlanOntoFewerHostsKeepsPagesWhereTheyAre(t *testing.T) {
	m := manifest(1024, threeHosts, nil, "main", "sub1", "sub2")
	p, err := parsePlacement("main=50%,sub1=50%", m, known)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := plan([]*ckpt.Manifest{m}, p, 0, 1e9)
	if err != nil {
		t.Fatal(err)
	}
	got := pagesFrom(rp)
	// main and sub1 keep their own pages; sub2's 256 pages go to sub1, the
	// only target with room.
	if got[[2]string{"main", "main"}] != 512 || got[[2]string{"sub1", "sub1"}] != 256 || got[[2]string{"sub1", "sub2"}] != 256 {
		t.Fatalf("sources %v", got)
	}
	if rp.api.Seconds <= 0 {
		t.Errorf("no time estimate at a known link rate")
	}
}

func TestPlanSingleHostGathersEverything(t *testing.T) {
	m := manifest(1024, threeHosts, nil, "main", "sub1", "sub2")
	p, _ := parsePlacement("single:main", m, known)
	rp, err := plan([]*ckpt.Manifest{m}, p, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rp.locations) != 1 || rp.locations[0].Count != 1024 || rp.hosts[0] != "main" || len(rp.hosts) != 1 {
		t.Fatalf("locations %v hosts %v", rp.locations, rp.hosts)
	}
}

func TestPlanTraditionalCheckpointComesFromTheMainPiece(t *testing.T) {
	m := manifest(1024, threeHosts, nil, "main")
	p, _ := parsePlacement("same", m, known)
	rp, err := plan([]*ckpt.Manifest{m}, p, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := pagesFrom(rp)
	if got[[2]string{"sub2", "main"}] != 256 || got[[2]string{"sub1", "main"}] != 256 {
		t.Fatalf("sources %v", got)
	}
}

func TestPlanRefusals(t *testing.T) {
	m := manifest(1024, threeHosts, nil, "main", "sub1", "sub2")
	for _, tc := range []struct{ placement, want string }{
		{"sub1=100%", "leaves out main"},
		{"main=50%,sub1=40%", "sum to 90%"},
		{"main=50", "not a positive percentage"},
		{"main:50%", "not HOST=PERCENT"},
	} {
		p, err := parsePlacement(tc.placement, m, known)
		if err == nil {
			_, err = plan([]*ckpt.Manifest{m}, p, 0, 0)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("placement %q: error %v, want %q", tc.placement, err, tc.want)
		}
	}
	if _, err := parsePlacement("single:nohost", m, func(h string) bool { return h != "nohost" }); err == nil {
		t.Error("unknown host accepted")
	}
	// A QEMU guest's node 0 must stay on the main host.
	p, _ := parsePlacement("main=25%,sub1=75%", m, known)
	if _, err := plan([]*ckpt.Manifest{m}, p, 512, 0); err == nil || !strings.Contains(err.Error(), "node 0") {
		t.Errorf("node 0 not pinned: %v", err)
	}
}

func TestAlignNodes(t *testing.T) {
	locs := []api.Range{{Start: 0, Count: 1000, Host: "main"}, {Start: 1000, Count: 700, Host: "sub1"}, {Start: 1700, Count: 348, Host: "sub2"}}
	out, nodes := alignNodes(locs, 2048, 512)
	if len(out) != 2 || nodes[0] != 1536 || nodes[1] != 512 || out[1].Host != "sub1" {
		t.Fatalf("aligned %v nodes %v", out, nodes)
	}
}

func TestSplitFirstNode(t *testing.T) {
	for _, c := range []struct {
		nodes []uint64
		want  string
	}{
		{[]uint64{32768, 16384, 16384}, "[8192 24576 16384 16384]"}, // 256 MiB, 50/25/25
		{[]uint64{8192, 28672, 28672}, "[8192 28672 28672]"},        // main already an eighth
		{[]uint64{4096, 30720, 30720}, "[4096 30720 30720]"},        // smaller: kept whole
	} {
		if got := fmt.Sprint(splitFirstNode(c.nodes, 65536, 512)); got != c.want {
			t.Errorf("splitFirstNode(%v) = %s, want %s", c.nodes, got, c.want)
		}
	}
}
