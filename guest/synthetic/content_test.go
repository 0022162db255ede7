package synthetic

import (
	"strings"
	"testing"
)

func TestFillCheck(t *testing.T) {
	page := make([]byte, 4096)
	if err := Check(page, 7, 0); err != nil {
		t.Fatalf("zero page at version 0: %v", err)
	}
	Fill(page, 7, 3)
	if err := Check(page, 7, 3); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		gfn     uint64
		version uint32
		want    string
	}{
		{7, 4, "stale or wrong version 3"},
		{8, 3, "holds version 3 of page 7"},
		{7, 0, "never written"},
	} {
		err := Check(page, c.gfn, c.version)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check(gfn %d, v %d) = %v, want %q", c.gfn, c.version, err, c.want)
		}
	}
	page[4000] ^= 1
	if err := Check(page, 7, 3); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("flipped bit: %v", err)
	}
	if err := Check(make([]byte, 4096), 7, 1); err == nil {
		t.Fatal("zero page accepted as version 1")
	}
}
