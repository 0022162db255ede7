package orchestrator

import (
	"reflect"
	"testing"

	"dcres/ckpt"
)

func TestFindOrphans(t *testing.T) {
	mk := func(id, parent string, replicas ...ckpt.Replica) *ckpt.Manifest {
		return &ckpt.Manifest{ID: id, Parent: parent, Checksum: "c-" + id, Replicas: replicas,
			Pieces:      []ckpt.PieceRef{{Host: "main"}, {Host: "sub1"}, {Host: "sub2"}},
			DeviceState: &ckpt.FileRef{Host: "main"}}
	}
	listing := func(ms ...*ckpt.Manifest) hostListing {
		l := hostListing{manifests: map[string]*ckpt.Manifest{}, damaged: map[string]string{}, pending: map[string]bool{}}
		for _, m := range ms {
			l.manifests[m.ID] = m
		}
		return l
	}
	full, orph := mk("full", ""), mk("orph", "")
	for _, c := range []struct {
		name  string
		lists map[string]hostListing
		want  []string
	}{
		{"committed on main only", map[string]hostListing{"main": listing(full, orph), "sub1": listing(full), "sub2": listing(full)}, []string{"orph"}},
		{"committed on two of three", map[string]hostListing{"main": listing(orph), "sub1": listing(orph), "sub2": listing()}, []string{"orph"}},
		{"complete: listed, never touched", map[string]hostListing{"main": listing(full), "sub1": listing(full), "sub2": listing(full)}, nil},
		{"a host did not answer", map[string]hostListing{"main": listing(orph), "sub1": listing()}, nil},
		{"a commit in progress there", func() map[string]hostListing {
			l := map[string]hostListing{"main": listing(orph), "sub1": listing(), "sub2": listing()}
			l["sub1"].pending["orph"] = true
			return l
		}(), nil},
		{"a damaged manifest there", func() map[string]hostListing {
			l := map[string]hostListing{"main": listing(orph), "sub1": listing(orph), "sub2": listing()}
			l["sub2"].damaged["orph"] = "a flipped byte"
			return l
		}(), nil},
		{"the parent of another checkpoint", map[string]hostListing{"main": listing(orph, mk("child", "orph")), "sub1": listing(), "sub2": listing()}, []string{"child"}},
		{"restorable from a replica", map[string]hostListing{
			"main": listing(mk("r", "", ckpt.Replica{Of: "sub2", FileRef: ckpt.FileRef{Host: "sub1"}}, ckpt.Replica{Of: "sub1", FileRef: ckpt.FileRef{Host: "main"}})),
			"sub1": listing(mk("r", "", ckpt.Replica{Of: "sub2", FileRef: ckpt.FileRef{Host: "sub1"}}, ckpt.Replica{Of: "sub1", FileRef: ckpt.FileRef{Host: "main"}})),
			"sub2": listing()}, nil},
		{"a replica holder outside the session", map[string]hostListing{
			"main": listing(mk("r", "", ckpt.Replica{Of: "sub2", FileRef: ckpt.FileRef{Host: "sub9"}})), "sub1": listing(), "sub2": listing()}, nil},
		{"the hosts disagree on the manifest", func() map[string]hostListing {
			other := mk("orph", "")
			other.Checksum = "different"
			return map[string]hostListing{"main": listing(orph), "sub1": listing(other), "sub2": listing()}
		}(), nil},
	} {
		var got []string
		for _, o := range findOrphans(c.lists) {
			got = append(got, o.id)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: orphans %v, want %v", c.name, got, c.want)
		}
	}
}
