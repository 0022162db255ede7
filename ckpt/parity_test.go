package ckpt

import "testing"

// TestParityLayout: in every group the parity holders and the data hosts
// are disjoint and cover the ring; every host's segments cut its stream
// into pieces, in order, one per group it has data in; the loss of any
// Parity hosts costs every group at most Parity shards.
func TestParityLayout(t *testing.T) {
	for _, c := range []struct{ hosts, parity int }{{2, 1}, {3, 1}, {4, 1}, {5, 2}, {6, 3}} {
		var hosts []string
		for i := 0; i < c.hosts; i++ {
			hosts = append(hosts, string(rune('a'+i)))
		}
		p, err := NewParity(hosts, c.parity)
		if err != nil {
			t.Fatal(err)
		}
		groupsOf := map[string]int{}
		for g := range hosts {
			seen := map[string]bool{}
			for _, h := range append(p.Holders(g), p.DataHosts(g)...) {
				if seen[h] {
					t.Fatalf("%d hosts, parity %d: group %d names %s twice", c.hosts, c.parity, g, h)
				}
				seen[h] = true
			}
			if len(seen) != c.hosts || len(p.DataHosts(g)) != p.Data {
				t.Fatalf("%d hosts, parity %d: group %d covers %d hosts, %d data", c.hosts, c.parity, g, len(seen), len(p.DataHosts(g)))
			}
			for _, h := range p.DataHosts(g) {
				groupsOf[h]++
			}
		}
		for _, h := range hosts {
			for _, size := range []int64{0, 1, 4095, 1 << 20, 12345677} {
				segs := p.Segments(h, size)
				var next int64
				for i, s := range segs {
					if s.Offset != next || s.Length < 0 || (i > 0 && s.Group <= segs[i-1].Group) || p.DataHosts(s.Group)[s.Idx] != h {
						t.Fatalf("%d hosts: %s's segment %d of %d bytes: %+v", c.hosts, h, i, size, s)
					}
					next += s.Length
				}
				if next != size || len(segs) != groupsOf[h] || len(segs) != p.Data {
					t.Fatalf("%d hosts: %s's %d segments of %d bytes cover %d", c.hosts, h, len(segs), size, next)
				}
			}
		}
		// Lose the first Parity hosts (every rotation is alike).
		for g := range hosts {
			n := 0
			for _, h := range append(p.Holders(g), p.DataHosts(g)...) {
				for _, l := range hosts[:c.parity] {
					if h == l {
						n++
					}
				}
			}
			if n > c.parity {
				t.Fatalf("%d hosts: losing %v costs group %d %d shards", c.hosts, hosts[:c.parity], g, n)
			}
		}
	}
	if _, err := NewParity([]string{"a"}, 1); err == nil {
		t.Fatal("parity over one host")
	}
}
