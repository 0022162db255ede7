package recordings

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"dcres/api"
	"dcres/internal/leakcheck"
)

func TestRoundTrip(t *testing.T) {
	want := sampleEvents()
	rec := sampleRecording(t)
	if rec.Header.Format != Format || rec.Header.Version != Version || rec.Header.Profile != "lab-test" || !rec.Header.Started.Equal(t0) {
		t.Errorf("header %+v", rec.Header)
	}
	if len(rec.Events) != len(want) {
		t.Fatalf("%d events, want %d", len(rec.Events), len(want))
	}
	for i := range want {
		w := want[i]
		w.Ev.Time = w.Ev.Time.UTC()
		if !reflect.DeepEqual(rec.Events[i], w) {
			t.Errorf("event %d: got %+v, want %+v", i, rec.Events[i], w)
		}
	}
	if rec.Damage != nil || rec.Duration() != 6*time.Second {
		t.Errorf("damage %v, duration %v", rec.Damage, rec.Duration())
	}
}

func TestCreateAndOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.dcrec")
	w, err := Create(path, sampleHeader)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range sampleEvents() {
		if err := w.Write(e.T, e.Ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(0, api.Event{Type: "log"}); err == nil {
		t.Error("write after Close succeeded")
	}
	rec, err := Open(path)
	if err != nil || len(rec.Events) != len(sampleEvents()) {
		t.Fatalf("Open: %v, %+v", err, rec)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Open of a missing file succeeded")
	}
}

func TestDamagedRecordings(t *testing.T) {
	whole := encode(t, sampleHeader, sampleEvents())
	lines := strings.SplitAfter(string(whole), "\n")
	join := func(ls ...string) []byte { return []byte(strings.Join(ls, "")) }
	cut := len(whole) - 20 // inside the last event
	for _, tc := range []struct {
		name   string
		data   []byte
		events int
		line   int
		reason string
	}{
		{"truncated", whole[:cut], len(lines) - 3, len(lines) - 1, "truncated"},
		{"garbage line", join(lines[0], lines[1], lines[2], "{\"t\":5,\"ev\":{\"type\":\"log\"\n", lines[3]), 2, 4, "not an event"},
		{"binary junk", join(lines[0], lines[1], "\x00\xff\xfe junk\n"), 1, 3, "not an event"},
		{"time backwards", join(lines[0], lines[1], lines[3], lines[2]), 2, 4, "time goes backwards"},
		{"no type", join(lines[0], lines[1], "{\"t\":9999999999,\"ev\":{}}\n"), 1, 3, "without a type"},
		{"empty line", join(lines[0], lines[1], "\n", lines[2]), 1, 3, "empty line"},
		{"too long", join(lines[0], lines[1], strings.Repeat("x", MaxLine+10)+"\n"), 1, 3, "longer than the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := Read(bytes.NewReader(tc.data))
			var de *DamageError
			if !errors.As(err, &de) {
				t.Fatalf("error %v, want a DamageError", err)
			}
			if rec == nil || len(rec.Events) != tc.events || rec.Damage == nil {
				t.Fatalf("got %v events, want %d (damage %v)", rec, tc.events, rec.Damage)
			}
			if de.Line != tc.line || !strings.Contains(de.Reason, tc.reason) {
				t.Errorf("damage %q at line %d, want %q at line %d", de.Reason, de.Line, tc.reason, tc.line)
			}
			if !strings.Contains(err.Error(), "line ") {
				t.Errorf("error %q does not name the line", err)
			}
		})
	}
}

func TestRefusedRecordings(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"newer", `{"format":"dcres-recording","version":7}` + "\n", "made by a newer dcres (version 7); this dcres reads version 1: upgrade"},
		{"empty", "", "empty"},
		{"other json", `{"version":2,"width":80}` + "\n", "not a dcres recording"},
		{"text", "hello\n", "not a dcres recording"},
		{"version 0", `{"format":"dcres-recording","version":0}` + "\n", "version 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := Read(strings.NewReader(tc.data))
			if rec != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v; want an error with %q", rec, err, tc.want)
			}
			if tc.name == "newer" && !errors.Is(err, ErrNewerVersion) {
				t.Error("not ErrNewerVersion")
			}
		})
	}
}

func TestScrub(t *testing.T) {
	key := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----"
	digest := strings.Repeat("0123456789abcdef", 4)
	ev := api.Event{Type: api.EvLog, Message: "loaded " + key + " from /home/op/.ssh/id_ed25519 and ~/lab/x; digest " + digest + " token QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODk=",
		Verify:      &api.VerifyResult{Faults: []string{"main: /var/lib/dcres/ck-1/main.piece bytes 0-4096: digest mismatch"}},
		Checkpoints: []api.CheckpointInfo{{ID: "ck-1", Verify: "failed: /tmp/x/y.piece"}}}
	orig := ev.Verify.Faults[0]
	got := scrub(ev)
	for _, bad := range []string{"BEGIN", "b3BlbnNz", "/home/op", "/var/lib", "/tmp/x", "QUJDREVG"} {
		if strings.Contains(got.Message+got.Verify.Faults[0]+got.Checkpoints[0].Verify, bad) {
			t.Errorf("scrubbed texts still contain %q: %q %q %q", bad, got.Message, got.Verify.Faults[0], got.Checkpoints[0].Verify)
		}
	}
	for _, keep := range []string{"…/id_ed25519", "…/x", digest, "…/main.piece bytes 0-4096: digest mismatch"} {
		if !strings.Contains(got.Message+" "+got.Verify.Faults[0], keep) {
			t.Errorf("scrubbed texts lost %q: %q %q", keep, got.Message, got.Verify.Faults[0])
		}
	}
	if ev.Verify.Faults[0] != orig || ev.Checkpoints[0].Verify != "failed: /tmp/x/y.piece" {
		t.Error("scrub changed the caller's event")
	}
	if s := scrubText("rate 32MiB/s, split 50/25/25"); s != "rate 32MiB/s, split 50/25/25" {
		t.Errorf("ordinary text changed: %q", s)
	}
}

func TestRecord(t *testing.T) {
	leakcheck.Check(t)
	f := &fakeCtrl{events: make(chan api.Event)}
	var buf bytes.Buffer
	stop := Record(context.Background(), f, &buf, sampleHeader)
	for _, e := range sampleEvents() {
		f.events <- e.Ev
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal("second stop:", err)
	}
	if f.unsubs != 1 {
		t.Errorf("%d unsubscribes, want 1", f.unsubs)
	}
	rec, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Events) != len(sampleEvents()) {
		t.Fatalf("%d events recorded, want %d", len(rec.Events), len(sampleEvents()))
	}
	for i := 1; i < len(rec.Events); i++ {
		if rec.Events[i].T < rec.Events[i-1].T {
			t.Fatal("offsets go backwards")
		}
	}
}

func TestRecordDrainsOnStop(t *testing.T) {
	leakcheck.Check(t)
	f := &fakeCtrl{events: make(chan api.Event)}
	var buf bytes.Buffer
	stop := Record(context.Background(), f, &buf, sampleHeader)
	done := make(chan error)
	go func() { done <- stop() }()
	// An event still on its way when stop is called is written.
	f.events <- api.Event{Type: api.EvOpDone, Op: "verify", Verify: &api.VerifyResult{Pages: 1}}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rec, err := Read(&buf)
	if err != nil || len(rec.Events) != 1 {
		t.Fatalf("%v, %+v", err, rec)
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n == 0 {
		return 0, errors.New("disk full")
	}
	w.n--
	return len(p), nil
}

func TestRecordWriteError(t *testing.T) {
	f := &fakeCtrl{events: make(chan api.Event, 4)}
	stop := Record(context.Background(), f, &failWriter{n: 1}, sampleHeader)
	f.events <- api.Event{Type: api.EvLog, Message: "x"}
	if err := stop(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("stop: %v, want the write error", err)
	}
	stop = Record(context.Background(), f, &failWriter{}, sampleHeader)
	if err := stop(); err == nil {
		t.Fatal("a header write error was not reported")
	}
}

func TestShippedRecordingReads(t *testing.T) {
	rec, err := Open(shippedLab)
	if err != nil {
		t.Fatalf("%v (regenerate: see README.md)", err)
	}
	b, err := os.ReadFile(shippedLab)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 200<<10 {
		t.Errorf("%s is %d bytes: keep shipped recordings under 200 KB", shippedLab, len(b))
	}
	for _, bad := range []string{"BEGIN OPENSSH", "PRIVATE KEY", "/tmp/", "/home/", "/root/"} {
		if bytes.Contains(b, []byte(bad)) {
			t.Errorf("%s contains %q", shippedLab, bad)
		}
	}
	s := Summarize(rec)
	if len(s.Checkpoints) != 2 || len(s.Restores) != 1 || len(s.Verifies) != 1 || s.GuestCheckErrors != 0 || s.Totals.VerifyErrors != 0 {
		t.Errorf("shipped summary:\n%s", s.Text())
	}
}
