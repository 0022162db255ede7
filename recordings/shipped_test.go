package recordings

import (
	"path/filepath"
	"testing"
)

// TestShippedRecordingsRead: every shipped recording reads whole, and its
// summary has checkpoints, restores and clean verifies.
func TestShippedRecordingsRead(t *testing.T) {
	files, err := filepath.Glob("shipped/*.dcrec")
	if err != nil || len(files) < 2 {
		t.Fatalf("shipped recordings: %v %v", files, err)
	}
	for _, f := range files {
		rec, err := Open(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s := Summarize(rec)
		if len(s.Checkpoints) == 0 || len(s.Restores) == 0 || len(s.Verifies) == 0 {
			t.Errorf("%s: summary %+v", f, s)
		}
		for _, v := range s.Verifies {
			if v.Errors != 0 {
				t.Errorf("%s: a verify with %d errors", f, v.Errors)
			}
		}
	}
}
