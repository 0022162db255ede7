package ckpt

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// TestCensus: the census of a piece names every page, in order, with its
// zero flag, as Each does, for single-run, multi-run, all-zero and
// all-data chunks.
func TestCensus(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed))
		path := filepath.Join(t.TempDir(), "p")
		_, wt := writeRandom(t, path, PieceOptions{Host: "h1", VM: "vm1", CheckpointID: "c1", ChunkPages: 1 + int(seed)*37}, rng, 3000)
		r, err := OpenPiece(path)
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		err = r.Census(func(g uint64, zero bool) {
			if i >= len(wt.gfns) || wt.gfns[i] != g || wt.zero[g] != zero {
				t.Fatalf("seed %d: census page %d is gfn %d zero %v; wrote gfn %d zero %v", seed, i, g, zero, wt.gfns[min(i, len(wt.gfns)-1)], wt.zero[g])
			}
			i++
		})
		r.Close()
		if err != nil || i != len(wt.gfns) {
			t.Fatalf("seed %d: census: %v, %d of %d pages", seed, err, i, len(wt.gfns))
		}
	}
}
