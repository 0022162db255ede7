package pattern

import "testing"

func TestFillCheck(t *testing.T) {
	p := make([]byte, PageSize)
	Fill(p, 42, 7, 99)
	if got, ok := Check(p, 42, 7, 99); !ok || got != 7 {
		t.Fatalf("fresh page: got=%d ok=%v, want 7 true", got, ok)
	}
	if got, ok := Check(p, 42, 8, 99); ok || got != 7 {
		t.Fatalf("stale page: got=%d ok=%v, want 7 false", got, ok)
	}
	if _, ok := Check(p, 43, 7, 99); ok {
		t.Fatal("misplaced page passed the check")
	}
	if idx, v, s, ok := Header(p); !ok || idx != 42 || v != 7 || s != 99 {
		t.Fatalf("header = %d %d %d %v", idx, v, s, ok)
	}
}

func TestEveryBitCounts(t *testing.T) {
	p := make([]byte, PageSize)
	for _, off := range []int{0, 9, 17, 25, 32, 2048, PageSize - 1} {
		Fill(p, 5, 3, 1)
		p[off] ^= 0x10
		if _, ok := Check(p, 5, 3, 1); ok {
			t.Errorf("flip at byte %d not detected", off)
		}
	}
}

func TestZeroPageIsNotOurs(t *testing.T) {
	p := make([]byte, PageSize)
	if got, ok := Check(p, 0, 0, 0); ok || got != -1 {
		t.Fatalf("zero page: got=%d ok=%v, want -1 false", got, ok)
	}
}
