package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"dcres/internal/testreq"
)

// requireGuest skips (or, under DCRES_REQUIRE_QEMU=1, fails) when QEMU or
// the verifying guest is missing.
func requireGuest(t *testing.T) {
	t.Helper()
	testreq.QEMU(t)
}

// TestE2EQEMUSplitGuest checkpoints a real QEMU guest split over three hosts
// with every method, and restores it onto the same hosts, onto two, and onto
// the main host alone (a normal VM); the guest checks every page it reads
// and verifies all of its memory after each restore.
func TestE2EQEMUSplitGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: boots QEMU")
	}
	requireGuest(t)
	prof := `name: qemu-e2e
lab: {hosts: 3}
vm:
  name: vm1
  driver: qemu
  memory: 384MiB
  split: {main: 50%, sub1: 25%, sub2: 25%}
  workload: {pattern: uniform, dirty_rate: 4MiB/s, seed: 11}
scenario:
  - run: 4s
  - checkpoint: {method: dcres}
  - checkpoint: {method: traditional}
  - checkpoint: {method: qemu-stream}
  - restore: {from: last-dcres}
  - run: 10s
  - verify: {}
  - restore: {from: last-dcres, placement: {hosts: {main: 50%, sub1: 50%}}}
  - run: 5s
  - verify: {}
  - restore: {from: last-traditional, placement: {single: main}}
  - run: 5s
  - verify: {}
  - restore: {from: last-qemu-stream}
  - run: 5s
  - verify: {}
`
	path := filepath.Join(t.TempDir(), "qemu-e2e.yaml")
	if err := os.WriteFile(path, []byte(prof), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runJSON(t, path, 6*time.Minute)
	if err != nil || !out.summary.OK {
		t.Fatalf("dcres run: %v\nstderr: %s\nsummary: %+v", err, out.stderr, out.summary)
	}
	verifies := 0
	for _, st := range out.summary.Steps {
		switch {
		case st.Step == "verify":
			verifies++
			if st.Errors == nil || *st.Errors != 0 || st.Pages == nil || *st.Pages == 0 {
				t.Errorf("verify at line %d: %+v", st.Line, st)
			}
		case st.Step == "checkpoint" && st.Method == "dcres":
			if st.BytesOverNetwork == nil || *st.BytesOverNetwork != 0 {
				t.Errorf("dcres checkpoint of the QEMU guest moved bytes: %+v", st)
			}
			if len(st.PerHost) != 3 {
				t.Errorf("dcres checkpoint saved on %d hosts, want 3", len(st.PerHost))
			}
		case st.Step == "checkpoint" && st.Method == "traditional":
			// Both sub-hosts' nodes (96 MiB each) are gathered to the main host.
			if st.BytesOverNetwork == nil || *st.BytesOverNetwork != 192<<20 {
				t.Errorf("traditional checkpoint moved %v bytes, want %d", st.BytesOverNetwork, 192<<20)
			}
		}
	}
	if verifies != 4 {
		t.Errorf("%d verify steps ran, want 4", verifies)
	}
}
