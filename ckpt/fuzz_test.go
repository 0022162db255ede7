package ckpt

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// smallPiece is a valid piece of two chunks: zero pages and one data page.
func smallPiece(t testing.TB) []byte {
	path := filepath.Join(t.TempDir(), "p")
	w, err := CreatePiece(path, PieceOptions{Host: "h", VM: "v", CheckpointID: "c", ChunkPages: 2})
	if err != nil {
		t.Fatal(err)
	}
	w.WritePage(1, zeroPage[:])
	w.WritePage(2, zeroPage[:])
	w.WritePage(9, zeroPage[:])
	w.WritePage(10, pageFor(10))
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzOpenPiece(f *testing.F) {
	f.Add(smallPiece(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := newPieceReader(bytes.NewReader(b), int64(len(b)), "fuzz")
		if err != nil {
			if _, ok := err.(Fault); !ok {
				t.Fatalf("open error is not a Fault: %v", err)
			}
			return
		}
		var last uint64
		n := int64(0)
		err = r.Each(func(gfn uint64, page []byte) error {
			if n > 0 && gfn <= last {
				t.Fatalf("gfn %d after %d", gfn, last)
			}
			last = gfn
			n++
			return nil
		})
		faults := r.Verify()
		if (err == nil) != (faults == nil) {
			t.Fatalf("Each says %v, Verify says %v", err, faults)
		}
		if err == nil && n != r.Info().Pages {
			t.Fatalf("Each gave %d pages, info says %d", n, r.Info().Pages)
		}
	})
}

func FuzzDecodeManifest(f *testing.F) {
	good, err := EncodeManifest(sampleManifest("vm1", "c1"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			return
		}
		again, err := EncodeManifest(m)
		if err != nil {
			t.Fatalf("a decoded manifest does not encode: %v", err)
		}
		if _, err := DecodeManifest(again); err != nil {
			t.Fatalf("re-encoded manifest does not decode: %v", err)
		}
	})
}
