package pager

import (
	"bytes"
	"context"
	"reflect"
	"testing"
)

func TestInstallCachedAndReset(t *testing.T) {
	f := newFake(t, 2, 32)
	p := newTestPager(t, f, 32, 2, 1, 2)
	ctx := context.Background()
	a := bytes.Repeat([]byte{0xA}, PageSize)
	for _, g := range []uint64{20, 21, 22} { // three into two slots: one dirty victim goes home
		if err := p.InstallCached(g, a, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.InstallCached(3, a, true); err != nil { // local page: into the store
		t.Fatal(err)
	}
	if !f.Stores[0].Has(3) || !bytes.Equal(f.Stores[0].Page(3), a) {
		t.Fatal("local install did not reach the local store")
	}
	if err := p.Quiesce(ctx); err != nil {
		t.Fatal(err)
	}
	dirty := p.DirtyCached()
	if len(dirty) != 2 || len(f.writeBacks) != 1 {
		t.Fatalf("dirty %v, write-backs %v; want 2 dirty and 1 write-back", dirty, f.writeBacks)
	}
	for _, g := range dirty {
		if !bytes.Equal(p.CachedPage(g), a) {
			t.Fatalf("CachedPage(%d) wrong", g)
		}
	}
	if p.CachedPage(5) != nil {
		t.Fatal("CachedPage of an uncached page is not nil")
	}
	loc := Split([]string{"h0", "h1"}, 32, []float64{1, 1})
	loc.Set(0, 32, 1)
	if err := p.Reset(loc); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.CachedPages != 0 || st.DirtyPages != 0 || len(p.DirtyCached()) != 0 {
		t.Fatalf("after reset: %+v", st)
	}
	if err := p.Reset(NewLocations([]string{"h0"}, 32)); err == nil {
		t.Fatal("Reset accepted a table with another host count")
	}
	p.Resume()
	// Page 3 is now homed at host 1, which never held it: it reads as zeros.
	err := p.Access(ctx, 3, false, func(pg []byte) {
		if !bytes.Equal(pg, make([]byte, PageSize)) {
			t.Error("page 3 read from the old home after Reset")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Locations().Ranges(); !reflect.DeepEqual(got, loc.Ranges()) {
		t.Fatalf("locations %v", got)
	}
}

func TestNewRejects(t *testing.T) {
	f := newFake(t, 2, 8)
	loc := SplitEven([]string{"a", "b"}, 8)
	cases := []Config{
		{Local: f.Stores[0], Remote: f, CacheBudgetPages: 1},
		{Locations: loc, Remote: f, CacheBudgetPages: 1},
		{Locations: loc, Local: f.Stores[0], CacheBudgetPages: 1},
		{Locations: loc, Local: f.Stores[0], Remote: f},
		{Locations: loc, LocalHost: 2, Local: f.Stores[0], Remote: f, CacheBudgetPages: 1},
	}
	for i, c := range cases {
		if _, err := New(c); err == nil {
			t.Errorf("case %d: New succeeded", i)
		}
	}
	// All pages local: no remote or cache needed.
	p, err := New(Config{Locations: NewLocations([]string{"a"}, 8), Local: f.Stores[0]})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
}
