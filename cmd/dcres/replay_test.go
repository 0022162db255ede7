package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dcres/recordings"
)

const shippedRecording = "../../recordings/shipped/lab-local.dcrec"

func TestReplaySummary(t *testing.T) {
	var out bytes.Buffer
	if err := replay(context.Background(), []string{"--summary", shippedRecording}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"recording of lab-local", "checkpoint dcres-", "restore ", "verify guest:", "guest check errors at the end: 0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := replay(context.Background(), []string{shippedRecording, "--summary", "--json"}, &out); err != nil {
		t.Fatal(err)
	}
	var s recordings.Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil || s.Totals.Checkpoints != 2 || s.Totals.Restores != 1 {
		t.Errorf("JSON summary %v: %s", err, out.String())
	}
}

func TestReplayExportCast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.cast")
	var stdout bytes.Buffer
	if err := replay(context.Background(), []string{shippedRecording, "--export", "cast", "-o", path, "--size", "100x30"}, &stdout); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte(`{"version":2,"width":100,"height":30`)) || stdout.Len() != 0 {
		t.Errorf("cast file starts %q; stdout has %d bytes", b[:min(len(b), 60)], stdout.Len())
	}
	if err := replay(context.Background(), []string{shippedRecording, "--export", "cast"}, &stdout); err != nil || !bytes.HasPrefix(stdout.Bytes(), []byte(`{"version":2,"width":120,"height":40`)) {
		t.Errorf("export to stdout: %v", err)
	}
}

func TestReplayRefusals(t *testing.T) {
	dir := t.TempDir()
	newer := filepath.Join(dir, "newer.dcrec")
	if err := os.WriteFile(newer, []byte(`{"format":"dcres-recording","version":2}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{newer, "--summary"}, "made by a newer dcres (version 2); this dcres reads version 1: upgrade"},
		{[]string{"--summary"}, "one recording expected"},
		{[]string{shippedRecording, "--json"}, "--json goes with --summary"},
		{[]string{shippedRecording, "--speed", "1000"}, "out of range"},
		{[]string{shippedRecording, "--export", "gif"}, "the one export format is cast"},
		{[]string{shippedRecording, "--export", "cast", "--size", "9x9"}, "WIDTHxHEIGHT"},
		{[]string{filepath.Join(dir, "missing.dcrec"), "--summary"}, "no such file"},
	} {
		err := replay(context.Background(), tc.args, &bytes.Buffer{})
		var ue usageError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &ue) {
			t.Errorf("replay %v: %v, want a usage error with %q", tc.args, err, tc.want)
		}
	}
}

func TestReplayOfDamagedRecording(t *testing.T) {
	b, err := os.ReadFile(shippedRecording)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cut.dcrec")
	if err := os.WriteFile(path, b[:len(b)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := replay(context.Background(), []string{path, "--summary"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "DAMAGED: ") || !strings.Contains(out.String(), "truncated") {
		t.Errorf("summary of a cut recording:\n%s", out.String())
	}
}

// TestStartRecording records a replay (a Player is a Controller) and reads
// the file back.
func TestStartRecording(t *testing.T) {
	rec, err := recordings.Open(shippedRecording)
	if err != nil {
		t.Fatal(err)
	}
	p := recordings.NewPlayer(rec)
	defer p.Close()
	p.Seek(rec.Duration()) // all of it, at once
	path := filepath.Join(t.TempDir(), "sub", "again.dcrec")
	stop, err := startRecording(context.Background(), p, path, recordings.Header{Profile: "lab-local", Hosts: rec.Header.Hosts})
	if err != nil {
		t.Fatal(err)
	}
	stop()
	again, err := recordings.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	got, want := recordings.Summarize(again), recordings.Summarize(rec)
	if again.Header.DCRES != version || got.Totals != want.Totals || got.GuestCheckErrors != want.GuestCheckErrors {
		t.Errorf("re-recorded figures %+v, want %+v", got.Totals, want.Totals)
	}
}
