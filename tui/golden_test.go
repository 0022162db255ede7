package tui

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current rendering")

// frame renders the model as plain text: colours are stripped so golden
// frames do not depend on the terminal's colour profile.
func frame(m *Model) string { return ansi.Strip(m.View().Content) }

// scenarioModel is a model that has seen the fixed scenario at w×h.
func scenarioModel(t testing.TB, w, h int, opt Options) (*Model, *fakeCtrl) {
	f := newFake()
	opt.Title = "lab-4hosts"
	opt.Now = fixedNow
	m := New(f, opt)
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	for _, ev := range scenario() {
		m.Update(ev)
		if ev.Type == "checkpoints" {
			f.list = ev.Checkpoints
		}
	}
	return m, f
}

// checkFrameSize fails unless the frame is exactly w×h cells.
func checkFrameSize(t *testing.T, got string, w, h int) {
	t.Helper()
	lines := strings.Split(got, "\n")
	if len(lines) != h {
		t.Errorf("frame has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n != w {
			t.Errorf("line %d is %d wide, want %d: %q", i, n, w, l)
		}
	}
}

func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./tui -run Golden -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("frame %s differs from %s (rerun with -update if the change is intended)\n--- got:\n%s\n--- want:\n%s", name, path, got, want)
	}
}

func TestGoldenFrames(t *testing.T) {
	for _, sz := range []struct {
		name string
		w, h int
	}{{"80x24", 80, 24}, {"120x40", 120, 40}, {"200x60", 200, 60}} {
		t.Run(sz.name, func(t *testing.T) {
			m, _ := scenarioModel(t, sz.w, sz.h, Options{})
			got := frame(m)
			checkFrameSize(t, got, sz.w, sz.h)
			compareGolden(t, "frame-"+sz.name, got)
		})
	}
}

func TestGoldenHelpAndReadOnly(t *testing.T) {
	m, _ := scenarioModel(t, 80, 24, Options{ReadOnly: true})
	drive(t, m, press("?"))
	got := frame(m)
	checkFrameSize(t, got, 80, 24)
	compareGolden(t, "help-readonly-80x24", got)
}
