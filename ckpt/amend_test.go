package ckpt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAmend: a manifest with more replicas replaces the committed one; a
// manifest of another checkpoint does not; a lost manifest is written.
func TestAmend(t *testing.T) {
	s := Store{Root: t.TempDir()}
	m := sampleManifest("vm1", "c1")
	if _, err := EncodeManifest(m); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit("vm1", "c1", m); err != nil {
		t.Fatal(err)
	}
	more := *m
	more.Replicas = []Replica{{Of: "sub1", Original: "sub1.piece", FileRef: FileRef{Host: "main", File: "replica-sub1-sub1.piece", Digest: strings.Repeat("ef", 16)}}}
	more.Copies = 2
	if _, err := EncodeManifest(&more); err != nil {
		t.Fatal(err)
	}
	if !SameCut(m, &more) {
		t.Fatal("a manifest with a replica added is not the same cut")
	}
	if err := s.Amend("vm1", "c1", &more); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load("vm1", "c1")
	if err != nil || len(got.Replicas) != 1 || got.Copies != 2 {
		t.Fatalf("after amend: %+v %v", got, err)
	}
	other := more
	other.Method = "traditional"
	if _, err := EncodeManifest(&other); err != nil {
		t.Fatal(err)
	}
	if SameCut(&more, &other) {
		t.Fatal("another method is the same cut")
	}
	if err := s.Amend("vm1", "c1", &other); err == nil {
		t.Fatal("amend with another checkpoint's manifest succeeded")
	}
	if err := os.Remove(filepath.Join(s.Root, "vm1", "c1", manifestName)); err != nil {
		t.Fatal(err)
	}
	if err := s.Amend("vm1", "c1", &other); err != nil {
		t.Fatalf("amend where the manifest is lost: %v", err)
	}
	if got, err := s.Load("vm1", "c1"); err != nil || got.Method != "traditional" {
		t.Fatalf("written manifest: %+v %v", got, err)
	}
}
