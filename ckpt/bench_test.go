package ckpt

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"dcres/api"
)

const benchBytes = 256 << 20

// benchData is guest-like memory: mostly distinct data with some zero pages.
func benchData() []byte {
	b := make([]byte, benchBytes)
	for off := 0; off < len(b); off += api.PageSize {
		if (off/api.PageSize)%8 == 7 {
			continue // zero page
		}
		for i := 0; i < api.PageSize; i += 64 {
			binary.LittleEndian.PutUint64(b[off+i:], uint64(off+i)*0x9e3779b97f4a7c15)
		}
	}
	return b
}

// BenchmarkPieceWrite writes 256 MiB of pages as a piece, and, as the
// yardstick, the same bytes as one raw sequential file in 1 MiB writes, both
// ending with fsync. Compare the two MB/s figures for the format's overhead.
func BenchmarkPieceWrite(b *testing.B) {
	data := benchData()
	dir := b.TempDir()
	b.Run("piece", func(b *testing.B) {
		b.SetBytes(benchBytes)
		path := filepath.Join(dir, "bench.piece")
		for b.Loop() {
			w, err := CreatePiece(path, PieceOptions{Host: "h", VM: "v", CheckpointID: "c"})
			if err != nil {
				b.Fatal(err)
			}
			if err := w.WriteRun(0, data); err != nil {
				b.Fatal(err)
			}
			if _, err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
		os.Remove(path)
	})
	b.Run("raw", func(b *testing.B) {
		b.SetBytes(benchBytes)
		path := filepath.Join(dir, "bench.raw")
		for b.Loop() {
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			for off := 0; off < len(data); off += 1 << 20 {
				if _, err := f.Write(data[off : off+1<<20]); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		os.Remove(path)
	})
}

// BenchmarkPieceRead reads and verifies the piece written above.
func BenchmarkPieceRead(b *testing.B) {
	data := benchData()
	path := filepath.Join(b.TempDir(), "bench.piece")
	w, err := CreatePiece(path, PieceOptions{Host: "h", VM: "v", CheckpointID: "c"})
	if err != nil {
		b.Fatal(err)
	}
	w.WriteRun(0, data)
	if _, err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchBytes)
	for b.Loop() {
		r, err := OpenPiece(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Each(func(uint64, []byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}
