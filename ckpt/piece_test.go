package ckpt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"dcres/api"
)

var testOpt = PieceOptions{Host: "h1", VM: "vm1", CheckpointID: "c1"}

// pageFor is the content written for gfn: non-zero, and distinct per gfn.
func pageFor(gfn uint64) []byte {
	p := make([]byte, api.PageSize)
	for i := 0; i < api.PageSize; i += 8 {
		binary.LittleEndian.PutUint64(p[i:], gfn*0x9e3779b97f4a7c15+uint64(i)+1)
	}
	return p
}

type want struct {
	gfns []uint64
	zero map[uint64]bool
}

// writeRandom writes a random sorted gfn set, with some zero pages and a mix
// of WritePage and WriteRun calls, and returns what it wrote.
func writeRandom(t testing.TB, path string, opt PieceOptions, rng *rand.Rand, n int) (PieceInfo, want) {
	t.Helper()
	w, err := CreatePiece(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	wt := want{zero: map[uint64]bool{}}
	gfn := uint64(rng.IntN(10))
	for len(wt.gfns) < n {
		runLen := 1 + rng.IntN(40)
		buf := make([]byte, 0, runLen*api.PageSize)
		for k := 0; k < runLen; k++ {
			g := gfn + uint64(k)
			wt.gfns = append(wt.gfns, g)
			if rng.IntN(5) == 0 {
				wt.zero[g] = true
				buf = append(buf, zeroPage[:]...)
			} else {
				buf = append(buf, pageFor(g)...)
			}
		}
		if rng.IntN(2) == 0 {
			err = w.WriteRun(gfn, buf)
		} else {
			for k := 0; k < runLen && err == nil; k++ {
				err = w.WritePage(gfn+uint64(k), buf[k*api.PageSize:(k+1)*api.PageSize])
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		gfn += uint64(runLen) + uint64(rng.IntN(3)) // gap of 0 merges runs
	}
	info, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return info, wt
}

func TestRoundTrip(t *testing.T) {
	for _, chunk := range []int{1, 3, 8, 256, 1000} {
		for _, n := range []int{0, 1, 7, 500} {
			rng := rand.New(rand.NewPCG(uint64(chunk), uint64(n)))
			path := filepath.Join(t.TempDir(), "p")
			opt := testOpt
			opt.ChunkPages = chunk
			info, wt := writeRandom(t, path, opt, rng, n)
			if info.Pages != int64(len(wt.gfns)) || info.ZeroPages != int64(len(wt.zero)) {
				t.Fatalf("chunk %d n %d: info pages %d zero %d, want %d %d", chunk, n, info.Pages, info.ZeroPages, len(wt.gfns), len(wt.zero))
			}
			r, err := OpenPiece(path)
			if err != nil {
				t.Fatal(err)
			}
			ri := r.Info()
			if ri != info {
				t.Fatalf("reader info %+v, writer info %+v", ri, info)
			}
			var got []uint64
			err = r.Each(func(gfn uint64, page []byte) error {
				want := pageFor(gfn)
				if wt.zero[gfn] {
					want = zeroPage[:]
				}
				if !bytes.Equal(page, want) {
					t.Fatalf("gfn %d: wrong content", gfn)
				}
				page[0] = 0xff // a scribbling callback must not spoil later pages
				got = append(got, gfn)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(wt.gfns) {
				t.Fatalf("chunk %d n %d: %d pages read, %d written", chunk, n, len(got), len(wt.gfns))
			}
			for i := range got {
				if got[i] != wt.gfns[i] {
					t.Fatalf("page %d: gfn %d, want %d", i, got[i], wt.gfns[i])
				}
			}
			if f := r.Verify(); f != nil {
				t.Fatalf("Verify on a sound piece: %v", f)
			}
			wantChunks := (len(wt.gfns) + chunk - 1) / chunk
			if len(r.Chunks()) != wantChunks {
				t.Fatalf("%d chunks, want %d", len(r.Chunks()), wantChunks)
			}
			r.Close()
		}
	}
}

func TestEachIn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p")
	opt := testOpt
	opt.ChunkPages = 16
	rng := rand.New(rand.NewPCG(1, 2))
	_, wt := writeRandom(t, path, opt, rng, 600)
	r, err := OpenPiece(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	max := wt.gfns[len(wt.gfns)-1]
	for trial := 0; trial < 50; trial++ {
		var ranges []api.Range
		for k := rng.IntN(4); k >= 0; k-- {
			ranges = append(ranges, api.Range{Start: rng.Uint64N(max + 10), Count: rng.Uint64N(80)})
		}
		in := func(g uint64) bool {
			for _, rg := range ranges {
				if g >= rg.Start && g-rg.Start < rg.Count {
					return true
				}
			}
			return false
		}
		var expect, got []uint64
		for _, g := range wt.gfns {
			if in(g) {
				expect = append(expect, g)
			}
		}
		err := r.EachIn(ranges, func(gfn uint64, page []byte) error {
			got = append(got, gfn)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(expect) {
			t.Fatalf("ranges %v: got %d pages, want %d", ranges, len(got), len(expect))
		}
		for i := range got {
			if got[i] != expect[i] {
				t.Fatalf("ranges %v: page %d gfn %d, want %d", ranges, i, got[i], expect[i])
			}
		}
	}
	// A range reaching the top of the gfn space must not wrap around.
	n := 0
	r.EachIn([]api.Range{{Start: wt.gfns[0], Count: ^uint64(0)}}, func(uint64, []byte) error { n++; return nil })
	if n != len(wt.gfns) {
		t.Fatalf("saturating range: %d pages, want %d", n, len(wt.gfns))
	}
}

func TestWriterErrors(t *testing.T) {
	dir := t.TempDir()
	w, err := CreatePiece(filepath.Join(dir, "p"), testOpt)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WritePage(5, pageFor(5)); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePage(5, pageFor(5)); err == nil {
		t.Fatal("repeated gfn accepted")
	}
	if _, err := w.Close(); err == nil {
		t.Fatal("Close after an out-of-order gfn succeeded")
	}
	if _, err := OpenPiece(filepath.Join(dir, "p")); err == nil {
		t.Fatal("failed piece left behind as a readable file")
	}

	w, _ = CreatePiece(filepath.Join(dir, "q"), testOpt)
	if err := w.WritePage(1, make([]byte, 100)); err == nil {
		t.Fatal("short page accepted")
	}
	w.Abort()
	w, _ = CreatePiece(filepath.Join(dir, "r"), testOpt)
	if err := w.WriteRun(1, make([]byte, api.PageSize+1)); err == nil {
		t.Fatal("ragged run accepted")
	}
	w.Abort()
	w, _ = CreatePiece(filepath.Join(dir, "s"), testOpt)
	if err := w.WriteRun(^uint64(0), make([]byte, 2*api.PageSize)); err == nil {
		t.Fatal("run overflowing the gfn space accepted")
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPiece(filepath.Join(dir, "s")); !errors.Is(err, errNotExist) {
		t.Fatalf("aborted piece still there: %v", err)
	}
	for _, o := range []PieceOptions{{Host: "../x", VM: "v", CheckpointID: "c"}, {Host: "h", VM: "v", CheckpointID: "c", ChunkPages: MaxChunkPages + 1}} {
		if _, err := CreatePiece(filepath.Join(dir, "t"), o); err == nil {
			t.Fatalf("options %+v accepted", o)
		}
	}
}

func TestTopGFN(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p")
	w, _ := CreatePiece(path, testOpt)
	top := ^uint64(0)
	if err := w.WriteRun(top-1, append(pageFor(1), zeroPage[:]...)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := OpenPiece(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []uint64
	if err := r.Each(func(g uint64, _ []byte) error { got = append(got, g); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != top-1 || got[1] != top {
		t.Fatalf("got %v", got)
	}
}
