package ckpt

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCheckpoint writes host main's piece and device state for vm/id as
// partial files and returns the manifest describing them.
func writeCheckpoint(t *testing.T, s Store, vm, id string, created time.Time) *Manifest {
	t.Helper()
	p, err := s.PartialPath(vm, id, "main.piece")
	if err != nil {
		t.Fatal(err)
	}
	opt := PieceOptions{Host: "main", VM: vm, CheckpointID: id, ChunkPages: 8}
	info, _ := writeRandom(t, p, opt, rand.New(rand.NewPCG(3, 4)), 30)
	dp, err := s.PartialPath(vm, id, "device.state")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dp, []byte("device state bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	dig, n, err := HashFile(dp)
	if err != nil {
		t.Fatal(err)
	}
	m := sampleManifest(vm, id)
	m.Created = created
	m.Pieces[0] = PieceRef{Host: "main", File: "main.piece", Pages: info.Pages, ZeroPages: info.ZeroPages, Bytes: info.Bytes, Digest: info.Digest}
	m.DeviceState = &FileRef{Host: "main", File: "device.state", Bytes: n, Digest: dig}
	return m
}

func TestStoreCommitListDelete(t *testing.T) {
	s := Store{Root: t.TempDir()}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	m2 := writeCheckpoint(t, s, "vm1", "c2", t0.Add(time.Hour))
	m1 := writeCheckpoint(t, s, "vm1", "c1", t0)
	if l, _ := s.List("vm1"); len(l) != 0 {
		t.Fatalf("uncommitted checkpoints listed: %d", len(l))
	}
	for _, m := range []*Manifest{m1, m2} {
		if err := s.Commit("vm1", m.ID, m); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit("vm1", m.ID, m); err != nil {
			t.Fatalf("second commit: %v", err)
		}
	}
	l, err := s.List("vm1")
	if err != nil || len(l) != 2 || l[0].ID != "c1" || l[1].ID != "c2" {
		t.Fatalf("List: %v, %v", l, err)
	}
	if _, err := os.Stat(filepath.Join(s.Root, "vm1", "c1", "main.piece"+partialSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("partial still there after commit: %v", err)
	}
	faults, err := s.VerifyLocal("vm1", "c1", "main")
	if err != nil || faults != nil {
		t.Fatalf("VerifyLocal: %v %v", faults, err)
	}
	other := *m1
	other.Live = false
	if err := s.Commit("vm1", "c1", &other); !errors.Is(err, ErrCommitted) {
		t.Fatalf("commit of a different manifest over a committed one: %v", err)
	}
	if err := s.Abort("vm1", "c1"); !errors.Is(err, ErrCommitted) {
		t.Fatalf("Abort of committed: %v", err)
	}
	if _, err := s.Load("vm1", "c1"); err != nil {
		t.Fatalf("committed checkpoint damaged by Abort: %v", err)
	}
	if err := s.Delete("vm1", "c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Root, "vm1", "c1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("deleted dir still there: %v", err)
	}
	if err := s.Delete("vm1", "c1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
	if _, err := s.Load("vm1", "c1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load deleted: %v", err)
	}
	if l, _ := s.List("vm1"); len(l) != 1 || l[0].ID != "c2" {
		t.Fatalf("List after delete: %v", l)
	}
}

func TestStoreAbortAndClean(t *testing.T) {
	s := Store{Root: t.TempDir()}
	m := writeCheckpoint(t, s, "vm1", "done", time.Now())
	if err := s.Commit("vm1", "done", m); err != nil {
		t.Fatal(err)
	}
	writeCheckpoint(t, s, "vm1", "aborted", time.Now())
	if err := s.Abort("vm1", "aborted"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Root, "vm1", "aborted")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("aborted dir still there: %v", err)
	}
	if err := s.Abort("vm1", "never-was"); err != nil {
		t.Fatalf("Abort of nothing: %v", err)
	}
	// A crash mid-checkpoint leaves partials; a stray partial also sits in
	// the committed one.
	writeCheckpoint(t, s, "vm1", "crashed", time.Now())
	stray, _ := s.PartialPath("vm1", "done", "late.piece")
	os.WriteFile(stray, []byte("x"), 0o600)
	removed, err := s.CleanPartials()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(s.Root, "vm1", "crashed"), stray}
	if strings.Join(removed, ",") != strings.Join(want, ",") {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	if _, err := s.Load("vm1", "done"); err != nil {
		t.Fatalf("CleanPartials damaged a committed checkpoint: %v", err)
	}
	if f, err := s.VerifyLocal("vm1", "done", "main"); err != nil || f != nil {
		t.Fatalf("after clean: %v %v", f, err)
	}
}

func TestVerifyLocalFindsDamage(t *testing.T) {
	s := Store{Root: t.TempDir()}
	m := writeCheckpoint(t, s, "vm1", "c1", time.Now())
	if err := s.Commit("vm1", "c1", m); err != nil {
		t.Fatal(err)
	}
	pp, _ := s.Path("vm1", "c1", "main.piece")
	b, _ := os.ReadFile(pp)
	b[headerLen+100] ^= 1
	os.WriteFile(pp, b, 0o600)
	dp, _ := s.Path("vm1", "c1", "device.state")
	os.WriteFile(dp, []byte("other"), 0o600)
	faults, err := s.VerifyLocal("vm1", "c1", "main")
	if err != nil || len(faults) != 2 || faults[0].File != pp || faults[1].File != dp {
		t.Fatalf("VerifyLocal: %v %v", faults, err)
	}
	// Verifying as sub1 checks only sub1's piece, which this store lacks.
	f, err := s.VerifyLocal("vm1", "c1", "sub1")
	if err != nil || len(f) != 1 || !strings.HasSuffix(f[0].File, "sub1.piece") {
		t.Fatalf("sub1: %v %v", f, err)
	}
}

func TestStoreNamesCannotEscape(t *testing.T) {
	root := t.TempDir()
	s := Store{Root: filepath.Join(root, "store")}
	bad := []string{"", "..", ".", "../x", "/abs", "a/b", ".hidden", "x\x00y", strings.Repeat("a", 65), "é"}
	for _, n := range bad {
		if _, err := s.PartialPath(n, "c", "f"); err == nil {
			t.Errorf("vm %q accepted", n)
		}
		if _, err := s.PartialPath("v", n, "f"); err == nil {
			t.Errorf("id %q accepted", n)
		}
		if _, err := s.Path("v", "c", n); err == nil {
			t.Errorf("file %q accepted", n)
		}
		if err := s.Abort(n, "c"); err == nil {
			t.Errorf("Abort(%q) accepted", n)
		}
		if err := s.Delete("v", n); err == nil {
			t.Errorf("Delete(%q) accepted", n)
		}
		if _, err := s.List(n); err == nil {
			t.Errorf("List(%q) accepted", n)
		}
	}
	for _, n := range []string{"manifest.json", "x.partial", "x.tmp"} {
		if _, err := s.PartialPath("v", "c", n); err == nil {
			t.Errorf("reserved file name %q accepted", n)
		}
	}
	if err := ValidName("host", "a/b"); err == nil || !strings.Contains(err.Error(), "host") || !strings.Contains(err.Error(), "a/b") {
		t.Errorf("ValidName error does not name kind and value: %v", err)
	}
	ents, _ := os.ReadDir(root)
	if len(ents) > 1 {
		t.Errorf("something was created outside the store: %v", ents)
	}
	m := sampleManifest("vm1", "c1")
	if err := s.Commit("vm1", "c2", m); err == nil {
		t.Error("commit of a manifest under another id accepted")
	}
}
