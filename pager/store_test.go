package pager

import (
	"bytes"
	"reflect"
	"testing"
)

func TestStorePutHasDropRuns(t *testing.T) {
	s, err := NewStore(200)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.NPages() != 200 || s.Count() != 0 {
		t.Fatalf("fresh store: npages %d count %d", s.NPages(), s.Count())
	}
	data := bytes.Repeat([]byte{7}, PageSize)
	for _, g := range []uint64{3, 4, 5, 63, 64, 65, 199} {
		s.Put(g, data)
	}
	s.Put(4, data) // again: still one page
	if s.Count() != 7 || !s.Has(64) || s.Has(6) {
		t.Fatalf("count %d has(64) %v has(6) %v", s.Count(), s.Has(64), s.Has(6))
	}
	want := []Run{{3, 3}, {63, 3}, {199, 1}}
	if got := s.Runs(); !reflect.DeepEqual(got, want) {
		t.Fatalf("runs %v, want %v", got, want)
	}
	if got := s.TakeWritten(); !reflect.DeepEqual(got, want) {
		t.Fatalf("written %v, want %v", got, want)
	}
	if got := s.TakeWritten(); len(got) != 0 {
		t.Fatalf("written after take: %v", got)
	}
	s.Put(10, []byte{1, 2}) // short data is zero-padded
	if p := s.Page(10); p[0] != 1 || p[1] != 2 || p[2] != 0 || len(p) != PageSize {
		t.Fatalf("short put: % x", p[:4])
	}
	s.Drop(60, 10)
	if s.Count() != 5 || s.Has(64) || !bytes.Equal(s.Page(64), make([]byte, PageSize)) {
		t.Fatalf("after drop: count %d has(64) %v", s.Count(), s.Has(64))
	}
	if got, want := s.TakeWritten(), []Run{{10, 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("written after drop %v, want %v", got, want)
	}
	if !bytes.Equal(s.Page(3), data) {
		t.Fatal("page outside the dropped range lost its data")
	}
}

func TestStoreFullWordRuns(t *testing.T) {
	s, err := NewStore(256)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for g := uint64(0); g < 256; g++ {
		s.MarkWritten(g)
	}
	if got, want := s.Runs(), []Run{{0, 256}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("runs %v, want %v", got, want)
	}
	s.Drop(1, 254)
	if got, want := s.Runs(), []Run{{0, 1}, {255, 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("runs %v, want %v", got, want)
	}
}

func TestStoreRejects(t *testing.T) {
	if _, err := NewStore(0); err == nil {
		t.Fatal("NewStore(0) succeeded")
	}
	s, _ := NewStore(4)
	defer s.Close()
	defer func() {
		if recover() == nil {
			t.Fatal("Page(4) of a 4-page store did not panic")
		}
	}()
	s.Page(4)
}

func TestWrittenCountPeeks(t *testing.T) {
	s, err := NewStore(256)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Put(3, []byte{1})
	s.Put(4, []byte{1})
	s.Put(200, []byte{1})
	if n := s.WrittenCount(); n != 3 {
		t.Fatalf("WrittenCount = %d, want 3", n)
	}
	if n := s.WrittenCount(); n != 3 {
		t.Fatalf("WrittenCount cleared the bits: %d", n)
	}
	s.TakeWritten()
	if n := s.WrittenCount(); n != 0 {
		t.Fatalf("after TakeWritten: %d", n)
	}
}

func TestEpochIsSeparateFromRounds(t *testing.T) {
	s, err := NewStore(128)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Put(1, []byte{1})
	s.TakeWritten()
	s.Put(2, []byte{1})
	got := s.TakeEpoch()
	if len(got) != 1 || got[0] != (Run{Start: 1, Count: 2}) {
		t.Fatalf("epoch %v, want pages 1-2", got)
	}
	if len(s.TakeEpoch()) != 0 {
		t.Fatal("epoch not cleared")
	}
	s.RestoreEpoch(got)
	if again := s.TakeEpoch(); len(again) != 1 || again[0] != got[0] {
		t.Fatalf("restored epoch %v", again)
	}
}
