package recordings

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current rendering")

// TestGoldenShippedReplay replays the shipped recording through the console
// and compares the final frame, so console changes show up here.
func TestGoldenShippedReplay(t *testing.T) {
	var final string
	var last time.Duration = -1
	err := Render(shipped(t), 120, 40, func(at time.Duration, screen string) error {
		if at <= last && at != 0 {
			t.Errorf("frame at %v after %v", at, last)
		}
		last, final = at, screen
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := ansi.Strip(final)
	if lines := strings.Split(got, "\n"); len(lines) != 40 {
		t.Errorf("final frame has %d lines, want 40", len(lines))
	}
	path := filepath.Join("testdata", "lab-local-120x40.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./recordings -run Golden -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("final frame differs from %s (rerun with -update if the change is intended)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

func TestExportCast(t *testing.T) {
	var buf bytes.Buffer
	if err := ExportCast(shipped(t), &buf, 100, 30); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	if !sc.Scan() {
		t.Fatal("empty cast")
	}
	var hdr map[string]any
	if err := json.Unmarshal(sc.Bytes(), &hdr); err != nil || hdr["version"] != 2.0 || hdr["width"] != 100.0 || hdr["height"] != 30.0 {
		t.Fatalf("header %s: %v", sc.Bytes(), err)
	}
	prev, frames := -1.0, 0
	for sc.Scan() {
		var fr []any
		if err := json.Unmarshal(sc.Bytes(), &fr); err != nil || len(fr) != 3 || fr[1] != "o" {
			t.Fatalf("frame line %q: %v", sc.Bytes(), err)
		}
		at, data := fr[0].(float64), fr[2].(string)
		if frames > 0 && at < prev+FrameInterval.Seconds()-1e-9 {
			t.Errorf("frame at %.3fs only %.3fs after the previous: more than 10 a second", at, at-prev)
		}
		if !strings.Contains(data, "\x1b[H") || strings.Contains(strings.ReplaceAll(data, "\r\n", ""), "\n") {
			t.Errorf("frame %d does not redraw the screen with CR LF lines", frames)
		}
		prev = at
		frames++
	}
	if frames < 3 {
		t.Errorf("%d frames: the console did not change over a whole scenario?", frames)
	}
	if prev < 5 {
		t.Errorf("last frame at %.1fs, the recording lasts %v", prev, shipped(t).Duration())
	}
}

func TestRenderRefusesTinyConsoles(t *testing.T) {
	if err := Render(sampleRecording(t), 5, 5, func(time.Duration, string) error { return nil }); err == nil {
		t.Error("a 5x5 console rendered")
	}
}
