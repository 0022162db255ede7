package recordings

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"dcres/api"
)

func TestSummarize(t *testing.T) {
	s := Summarize(sampleRecording(t))
	if len(s.Checkpoints) != 1 || s.Checkpoints[0].ID != "ck-1" || s.Checkpoints[0].PauseSeconds != 0.1 || len(s.Checkpoints[0].PerHost) != 2 {
		t.Errorf("checkpoints %+v", s.Checkpoints)
	}
	if len(s.Restores) != 1 || s.Restores[0].Pulled != 1<<20 || s.Restores[0].Placement != "same" {
		t.Errorf("restores %+v", s.Restores)
	}
	if len(s.Verifies) != 1 || s.Verifies[0].Pages != 16384 {
		t.Errorf("verifies %+v", s.Verifies)
	}
	if len(s.Failures) != 1 || s.Failures[0].Message != "host b: disk full" {
		t.Errorf("failures %+v", s.Failures)
	}
	want := Totals{Checkpoints: 1, CheckpointSeconds: 0.5, PauseSeconds: 0.1, BytesSaved: 8 << 20, BytesOverNetwork: 1 << 20,
		Restores: 1, RestoreSeconds: 0.7, Pulled: 1 << 20, Verifies: 1, Failures: 1}
	if s.Totals != want {
		t.Errorf("totals %+v, want %+v", s.Totals, want)
	}
	if s.GuestCheckErrors != 0 || s.Seconds != 6 || s.Profile != "lab-test" {
		t.Errorf("summary %+v", s)
	}
	text := s.Text()
	for _, w := range []string{"checkpoint ck-1 (dcres): 0.500s, pause 0.100s, 8 MiB saved", "restore ck-1 (placement same): 0.700s, 1 MiB pulled",
		"verify guest: 16384 pages, 0 errors", "FAILED checkpoint ck-2: host b: disk full", "guest check errors at the end: 0"} {
		if !strings.Contains(text, w) {
			t.Errorf("text lacks %q:\n%s", w, text)
		}
	}
	var buf bytes.Buffer
	if err := s.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back Summary
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back.Totals != s.Totals || len(back.Checkpoints) != 1 {
		t.Errorf("JSON round trip: %v %+v", err, back)
	}
}

func TestSummarizeEmptyAndDamaged(t *testing.T) {
	s := Summarize(&Recording{Header: sampleHeader, Damage: &DamageError{Line: 3, Reason: "truncated"}})
	if s.GuestCheckErrors != -1 || !strings.Contains(s.Text(), "unknown") || !strings.Contains(s.Text(), "DAMAGED: recording damaged at line 3") {
		t.Errorf("summary of nothing:\n%s", s.Text())
	}
	var buf bytes.Buffer
	if err := s.WriteJSON(&buf); err != nil || !strings.Contains(buf.String(), `"checkpoints": []`) {
		t.Errorf("JSON lists must be [] not null: %s", buf.String())
	}
}

// TestSummarizeActions: a console's operator actions are listed in order
// with their offsets and counted; other events are not actions.
func TestSummarizeActions(t *testing.T) {
	entries := append(sampleEvents(),
		Entry{T: 7 * time.Second, Ev: api.Event{Type: api.EvReader, Message: "look at the pause"}},
		Entry{T: 9 * time.Second, Ev: api.Event{Type: api.EvAction, Op: "pause-for-reader", Message: `pause-for-reader: went on after "look at the pause"`}},
		Entry{T: 10 * time.Second, Ev: api.Event{Type: api.EvAction, Op: "checkpoint", Message: "traditional checkpoint requested"}},
		Entry{T: 11 * time.Second, Ev: api.Event{Type: api.EvAction, Op: "restore", ID: "ck-1", Message: "restore of ck-1 (single:a) requested"}},
	)
	rec, err := Read(bytes.NewReader(encode(t, sampleHeader, entries)))
	if err != nil {
		t.Fatal(err)
	}
	s := Summarize(rec)
	want := []Action{
		{At: 9, Op: "pause-for-reader", Message: `pause-for-reader: went on after "look at the pause"`},
		{At: 10, Op: "checkpoint", Message: "traditional checkpoint requested"},
		{At: 11, Op: "restore", ID: "ck-1", Message: "restore of ck-1 (single:a) requested"},
	}
	if !reflect.DeepEqual(s.Actions, want) || s.Totals.Actions != 3 {
		t.Errorf("actions %+v (total %d), want %+v", s.Actions, s.Totals.Actions, want)
	}
	text := s.Text()
	for _, w := range []string{"action at 10.000s: traditional checkpoint requested", "operator actions: 3"} {
		if !strings.Contains(text, w) {
			t.Errorf("text lacks %q:\n%s", w, text)
		}
	}
	if got := Summarize(sampleRecording(t)); got.Totals.Actions != 0 || got.Actions == nil {
		t.Errorf("a recording without actions: %+v (want an empty list, not null)", got.Actions)
	}
}
