package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dcres/api"
	"dcres/recordings"
)

// TestE2EConsoleScenario runs lab 1's scenario in the console of a real lab
// (dcres lab lab-split --scenario, in tmux): every pause-for-reader shows
// its note and holds the scenario until enter or space; the console is the
// operator's once the scenario is done. The recording keeps the notes and
// the operator's actions, and replay --summary counts them.
func TestE2EConsoleScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs agent processes in tmux")
	}
	rec := filepath.Join(t.TempDir(), "lab-split.dcrec")
	c := startConsoleArgs(t, 120, 40, "xterm-256color", "lab-split", "--scenario", "--record", rec)

	// The scenario opens with a note: nothing runs until the reader goes on
	// (the next steps, 2 s of running and a checkpoint, would be done by
	// then).
	c.waitFor("first note", 60*time.Second, `For the reader`, `The vCPUs run on main`, `enter or space: go on`, hostsUp)
	time.Sleep(3 * time.Second)
	s := c.waitFor("first note, still", time.Second, `For the reader`, `The vCPUs run on main`, `no checkpoints yet`)
	c.keep("scenario-note", s)

	c.keys("Enter")
	c.waitFor("second note", 60*time.Second, `For the reader`, `compare per-host bytes`, `(?m)^  dcres-\S+ +\d\d:\d\d:\d\d dcres `)
	c.keys("c") // refused while the scenario runs: not an action
	c.waitFor("refusal", 5*time.Second, `scenario is running: wait for it to finish`)
	c.keys("Space")
	c.waitFor("third note", 60*time.Second, `For the reader`, `Main now holds 25%`)
	c.keys("Enter")
	s = c.waitFor("end of the scenario", 90*time.Second, `scenario done`, `scenario line \d+: verify +guest: \d+ pages, 0 errors`)
	c.keep("scenario-done", s)

	// The console is the operator's again.
	c.keys("t")
	c.waitFor("traditional checkpoint", 30*time.Second, `traditional checkpoint requested`, `checkpoint traditional-\S+ committed`)
	c.waitGone("checkpoint end", `⏳`, 10*time.Second)
	c.quit()

	r, err := recordings.Open(rec)
	if err != nil {
		t.Fatal(err)
	}
	var notes int
	var actions []string
	for _, e := range r.Events {
		switch e.Ev.Type {
		case api.EvReader:
			notes++
		case api.EvAction:
			actions = append(actions, e.Ev.Op)
		}
	}
	if want := []string{"pause-for-reader", "pause-for-reader", "pause-for-reader", "checkpoint"}; notes != 3 || strings.Join(actions, " ") != strings.Join(want, " ") {
		t.Errorf("recorded %d notes and actions %q, want 3 and %q", notes, actions, want)
	}
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"BEGIN OPENSSH", "PRIVATE KEY", c.dir} {
		if bytes.Contains(b, []byte(bad)) {
			t.Errorf("the recording contains %q", bad)
		}
	}
	var out bytes.Buffer
	if err := replay(context.Background(), []string{"--summary", rec}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"operator actions: 4", `: pause-for-reader: went on after "The vCPUs run on main`, ": traditional checkpoint requested", "verify guest:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("replay --summary lacks %q:\n%s", want, out.String())
		}
	}
}
