package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"dcres/orchestrator"
)

// These tests run the real dcres binary: agent processes, SSH with host key
// checks, peer links over loopback, pages on the wire.

var (
	buildOnce sync.Once
	binDir    string // removed by TestMain when the tests end
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// dcresBinary builds the command once per test run, in a directory that
// TestMain removes at the end.
func dcresBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dcres-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		binPath = filepath.Join(dir, "dcres")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type runOutput struct {
	steps   []orchestrator.StepResult
	summary summary
	stderr  string
}

// runJSON runs `dcres run PROFILE --json` and decodes its lines.
func runJSON(t *testing.T, profile string, timeout time.Duration) (runOutput, error) {
	t.Helper()
	cmd := exec.Command(dcresBinary(t), "run", profile, "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("dcres run %s did not finish in %s\nstderr: %s", profile, timeout, stderr.String())
	}
	out := runOutput{stderr: stderr.String()}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	for i, line := range lines {
		if line == "" {
			continue
		}
		if i == len(lines)-1 {
			if jerr := json.Unmarshal([]byte(line), &out.summary); jerr != nil {
				t.Fatalf("summary line %q: %v", line, jerr)
			}
			continue
		}
		var r orchestrator.StepResult
		if jerr := json.Unmarshal([]byte(line), &r); jerr != nil {
			t.Fatalf("step line %q: %v", line, jerr)
		}
		out.steps = append(out.steps, r)
	}
	return out, err
}

func TestE2ELabLocalScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs agent processes")
	}
	out, err := runJSON(t, "../../profiles/lab-local.yaml", 3*time.Minute)
	if err != nil {
		t.Fatalf("dcres run failed: %v\nstderr: %s\nsummary: %+v", err, out.stderr, out.summary)
	}
	if !out.summary.OK || out.summary.Profile != "lab-local" || len(out.summary.Steps) != 6 {
		t.Fatalf("summary: %+v", out.summary)
	}
	var sawDCRES, sawTrad bool
	for _, st := range out.summary.Steps {
		switch {
		case st.Step == "checkpoint" && st.Method == "dcres":
			sawDCRES = true
			if st.BytesOverNetwork == nil || *st.BytesOverNetwork != 0 {
				t.Errorf("dcres checkpoint moved %v bytes over the network, want 0", st.BytesOverNetwork)
			}
			if len(st.PerHost) != 3 || st.BytesSaved == nil || *st.BytesSaved == 0 || st.PauseSeconds == nil {
				t.Errorf("dcres checkpoint figures: %+v", st)
			}
		case st.Step == "checkpoint" && st.Method == "traditional":
			sawTrad = true
			// It gathers the two sub-hosts' halves: 256 MiB of the 512 MiB guest.
			if st.BytesOverNetwork == nil || *st.BytesOverNetwork != 256<<20 {
				t.Errorf("traditional checkpoint moved %v bytes, want %d", st.BytesOverNetwork, 256<<20)
			}
		case st.Step == "verify":
			if st.Errors == nil || *st.Errors != 0 || st.Pages == nil || *st.Pages != 131072 {
				t.Errorf("verify: %+v", st)
			}
		}
	}
	if !sawDCRES || !sawTrad {
		t.Errorf("missing checkpoint steps: %+v", out.summary.Steps)
	}
	if len(out.steps) != 6 {
		t.Errorf("got %d step lines before the summary, want 6", len(out.steps))
	}
}

// TestE2EShapes runs other cluster shapes: host counts, uneven splits, a
// small main share, small and large guests, restores onto other placements.
func TestE2EShapes(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs agent processes")
	}
	shapes := []struct {
		name, memory, split, extra string
		hosts                      int
	}{
		{"two-hosts-64m", "64MiB", "{main: 70%, sub1: 30%}", "", 2},
		{"six-hosts-small-main", "256MiB", "{main: 10%, sub1: 30%, sub2: 15%, sub3: 15%, sub4: 15%, sub5: 15%}", `  - restore: {from: last-dcres, placement: {single: main}}
  - run: 1s
  - verify: {}
  - checkpoint: {method: dcres}
  - restore: {from: last-dcres, placement: {hosts: {main: 40%, sub1: 30%, sub5: 30%}}}
  - run: 1s
  - verify: {}
`, 6},
		{"four-hosts-2g", "2GiB", "{main: 25%, sub1: 25%, sub2: 25%, sub3: 25%}", "", 4},
	}
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			prof := fmt.Sprintf(`name: %s
lab: {hosts: %d}
vm:
  name: vm1
  driver: synthetic
  memory: %s
  split: %s
  workload: {pattern: uniform, dirty_rate: 16MiB/s, seed: 3}
scenario:
  - run: 1s
  - checkpoint: {method: dcres}
  - checkpoint: {method: traditional}
  - restore: {from: last-traditional}
  - run: 1s
  - verify: {}
  - restore: {from: last-dcres}
  - run: 1s
  - verify: {}
%s`, sh.name, sh.hosts, sh.memory, sh.split, sh.extra)
			path := filepath.Join(t.TempDir(), sh.name+".yaml")
			if err := os.WriteFile(path, []byte(prof), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := runJSON(t, path, 5*time.Minute)
			if err != nil || !out.summary.OK {
				t.Fatalf("dcres run: %v\nstderr: %s\nsummary: %+v", err, out.stderr, out.summary)
			}
			verifies := 0
			for _, st := range out.summary.Steps {
				if st.Step == "verify" {
					verifies++
					if st.Errors == nil || *st.Errors != 0 {
						t.Errorf("verify after line %d: %+v", st.Line, st)
					}
				}
				if st.Step == "checkpoint" && st.Method == "dcres" && (st.BytesOverNetwork == nil || *st.BytesOverNetwork != 0) {
					t.Errorf("dcres checkpoint moved bytes: %+v", st)
				}
			}
			if verifies < 2 {
				t.Errorf("only %d verify steps ran", verifies)
			}
		})
	}
}

// TestE2EBadProfile: a broken profile is refused with file:line, exit status
// 2, and nothing started.
func TestE2EBadProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds the binary")
	}
	path := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(path, []byte("name: bad\nlab: {hosts: 2}\nvm:\n  memory: 64MiB\n  split: {main: 50%, sub1: 40%}\n"), 0o644)
	cmd := exec.Command(dcresBinary(t), "run", path, "--json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v, want status 2; stderr: %s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "bad.yaml:5:") || !strings.Contains(stderr.String(), "90") {
		t.Errorf("error does not name the line and the sum: %s", stderr.String())
	}
}

func lookPath(name string) (string, error) { return exec.LookPath(name) }

// TestE2ELiveUnderPaging: live checkpoints of a 1 GiB guest over 4 hosts
// with a 20% main share and a small cache, so the guest pages heavily while
// the rounds run; each restore must verify with 0 errors, over several seeds.
func TestE2ELiveUnderPaging(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs agent processes")
	}
	for _, seed := range []int{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			prof := fmt.Sprintf(`name: live-%d
lab: {hosts: 4}
vm:
  name: vm1
  driver: synthetic
  memory: 1GiB
  split: {main: 20%%, sub1: 30%%, sub2: 25%%, sub3: 25%%}
  cache: 2%%
  workload: {pattern: hotcold, dirty_rate: 96MiB/s, read_rate: 256MiB/s, seed: %d, hot_fraction: 0.3}
scenario:
  - run: 3s
  - checkpoint: {method: dcres, live: true}
  - run: 1s
  - checkpoint: {method: dcres, live: true}
  - restore: {from: last}
  - run: 1s
  - verify: {}
  - checkpoint: {method: dcres, live: true}
  - restore: {from: last, placement: {hosts: {main: 30%%, sub2: 40%%, sub3: 30%%}}}
  - run: 1s
  - verify: {}
`, seed, seed)
			path := filepath.Join(t.TempDir(), "live.yaml")
			if err := os.WriteFile(path, []byte(prof), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := runJSON(t, path, 5*time.Minute)
			if err != nil || !out.summary.OK {
				t.Fatalf("dcres run: %v\nstderr: %s\nsummary: %+v", err, out.stderr, out.summary)
			}
			for _, st := range out.summary.Steps {
				if st.Step == "checkpoint" && (!st.Live || len(st.Rounds) == 0 || *st.BytesOverNetwork != 0) {
					t.Errorf("live checkpoint figures: %+v", st)
				}
				if st.Step == "verify" && (st.Errors == nil || *st.Errors != 0) {
					t.Errorf("verify at line %d: %+v", st.Line, st)
				}
			}
		})
	}
}

// TestE2EIncrementalChain: a guest that rewrites about 5% of its memory
// between checkpoints; a chain of 5 incremental checkpoints on a full one
// each writes under 10% of the full one's bytes, and the chain restores
// (same placement and onto one host) with every page verified.
func TestE2EIncrementalChain(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs agent processes")
	}
	var steps strings.Builder
	for i := 0; i < 5; i++ {
		steps.WriteString("  - run: 200ms\n  - checkpoint: {method: dcres, incremental: true}\n")
	}
	prof := `name: incremental
lab: {hosts: 3}
vm:
  name: vm1
  driver: synthetic
  memory: 256MiB
  split: {main: 40%, sub1: 30%, sub2: 30%}
  cache: 2%
  workload: {pattern: sequential, dirty_rate: 32MiB/s, read_rate: 32MiB/s, seed: 4}
scenario:
  - run: 8500ms
  - checkpoint: {method: dcres}
` + steps.String() + `  - restore: {from: last}
  - run: 1s
  - verify: {}
  - restore: {from: last, placement: {single: main}}
  - run: 1s
  - verify: {}
`
	path := filepath.Join(t.TempDir(), "inc.yaml")
	if err := os.WriteFile(path, []byte(prof), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runJSON(t, path, 5*time.Minute)
	if err != nil || !out.summary.OK {
		t.Fatalf("dcres run: %v\nstderr: %s\nsummary: %+v", err, out.stderr, out.summary)
	}
	var full int64
	var prev string
	incrementals := 0
	for _, st := range out.summary.Steps {
		switch {
		case st.Step == "checkpoint" && st.Parent == "":
			full = *st.BytesSaved
			prev = st.ID
		case st.Step == "checkpoint":
			incrementals++
			if st.Parent != prev {
				t.Errorf("checkpoint %s has parent %q, want %q", st.ID, st.Parent, prev)
			}
			prev = st.ID
			if *st.BytesSaved*10 >= full {
				t.Errorf("incremental %s saved %d bytes, not under 10%% of the full %d", st.ID, *st.BytesSaved, full)
			}
		case st.Step == "verify":
			if st.Errors == nil || *st.Errors != 0 {
				t.Errorf("verify at line %d: %+v", st.Line, st)
			}
		}
	}
	if incrementals != 5 || full < 128<<20 {
		t.Errorf("%d incrementals, full checkpoint %d bytes (the guest should have written all its memory)", incrementals, full)
	}
}
