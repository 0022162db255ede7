package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"dcres/internal/testreq"
	"dcres/profiles"
)

const labsDir = "../../docs/labs"

// guides maps each lab guide in docs/labs to the profile its title names.
func guides(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(labsDir, "[0-9][0-9]-*.md"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no lab guides in %s: %v", labsDir, err)
	}
	title := regexp.MustCompile("(?m)^# .*\\(`([a-z0-9-]+)`\\)$")
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := title.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s: the title does not name its profile as (`lab-x`)", f)
		}
		out[f] = string(m[1])
	}
	return out
}

// guideCommands lists the lines of a guide's sh blocks that start with dcres,
// as argument lists.
func guideCommands(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cmds [][]string
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "```"):
			in = !in && line == "```sh"
		case in && strings.HasPrefix(line, "dcres "):
			if strings.ContainsAny(line, "|><;&$`") {
				t.Errorf("%s: %q: keep guide commands plain, so this test can check them", path, line)
				continue
			}
			cmds = append(cmds, strings.Fields(line)[1:])
		}
	}
	return cmds
}

func hasCommand(name string) bool {
	for _, c := range commands {
		if c.name == name {
			return true
		}
	}
	return false
}

// TestLabGuides checks every shipped lab has a guide, and every dcres
// command in a guide parses: `profile` subcommands run (they only read),
// others answer --help after their flags, and every profile they name loads.
func TestLabGuides(t *testing.T) {
	named := map[string]bool{}
	for path, lab := range guides(t) {
		p, ok := profiles.Embedded(lab)
		if !ok {
			t.Errorf("%s names profile %s, which is not shipped", path, lab)
			continue
		}
		named[lab] = true
		cmds := guideCommands(t, path)
		if len(cmds) < 2 {
			t.Errorf("%s: %d dcres commands; a guide says what to run", path, len(cmds))
		}
		ranLab := false
		for _, args := range cmds {
			for _, a := range args[1:] {
				if !strings.HasPrefix(a, "-") && (strings.HasPrefix(a, "lab-") || strings.HasSuffix(a, ".yaml")) {
					if _, err := loadProfile([]string{a}); err != nil {
						t.Errorf("%s: dcres %s: profile %s: %v", path, strings.Join(args, " "), a, err)
					}
					ranLab = ranLab || a == lab && (args[0] == "run" || args[0] == "lab")
				}
			}
			switch {
			case args[0] == "profile":
				// Registered in main.go's table by the lead; run it directly
				// until then, and through mainErr after.
				var err error
				if hasCommand("profile") {
					if code := mainErr(args); code != 0 {
						err = errors.New("non-zero exit")
					}
				} else {
					err = runProfile(args[1:], new(bytes.Buffer), new(bytes.Buffer))
				}
				if err != nil {
					t.Errorf("%s: dcres %s: %v", path, strings.Join(args, " "), err)
				}
			case !hasCommand(args[0]):
				t.Errorf("%s: dcres %s: no such command", path, strings.Join(args, " "))
			default:
				if code := mainErr(append(append([]string(nil), args...), "--help")); code != 0 {
					t.Errorf("%s: dcres %s --help: exit status %d (a flag is wrong?)", path, strings.Join(args, " "), code)
				}
			}
		}
		if !ranLab {
			t.Errorf("%s: no `dcres run %s` or `dcres lab %s` command", path, p.Name, p.Name)
		}
	}
	for _, name := range profiles.EmbeddedNames() {
		base := strings.TrimSuffix(name, "-qemu")
		if _, isLab := profiles.Embedded(base); base != name && isLab && !named[base] {
			t.Errorf("shipped %s has no lab guide for %s", name, base)
		}
	}
	if len(named) < 4 {
		t.Errorf("%d lab guides, want at least 4", len(named))
	}
}

func TestProfileCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := runProfile([]string{"check", "lab-split", "../../profiles/lab-live.yaml"}, &out, &errOut); err != nil {
		t.Fatalf("check shipped labs: %v\n%s", err, errOut.String())
	}
	if got := out.String(); got != "lab-split: ok\n../../profiles/lab-live.yaml: ok\n" {
		t.Errorf("check output %q", got)
	}

	out.Reset()
	errOut.Reset()
	bad := "../../profiles/testdata/bad-fault.yaml"
	err := runProfile([]string{"check", "lab-local", bad, "no-such-profile"}, &out, &errOut)
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "2 of 3 profiles") {
		t.Errorf("check with bad profiles: %v, want a usage error (exit 2) counting 2 of 3", err)
	}
	for _, want := range []string{bad + ":6:19: scenario[1].fault.kill: host sub9 is not in this lab: main, sub1, sub2", bad + ":7:12:", "rate: 10mbit", "no-such-profile: profile no-such-profile does not exist"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("check stderr lacks %q:\n%s", want, errOut.String())
		}
	}
	if out.String() != "lab-local: ok\n" {
		t.Errorf("check stdout %q", out.String())
	}

	for _, name := range profiles.EmbeddedNames() {
		want, _ := profiles.Embedded(name)
		out.Reset()
		if err := runProfile([]string{"show", name}, &out, &errOut); err != nil {
			t.Fatal(err)
		}
		// check(show(p)) is ok, and loads to the same profile.
		dir := t.TempDir()
		file := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		var cout bytes.Buffer
		if err := runProfile([]string{"check", file}, &cout, &errOut); err != nil || cout.String() != file+": ok\n" {
			t.Errorf("check of show %s: %v %q", name, err, cout.String())
		}
		got, err := profiles.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(strip(got), strip(want)) {
			t.Errorf("show %s loads to another profile:\n%+v\nwant\n%+v", name, got, want)
		}
	}

	out.Reset()
	if err := runProfile([]string{"show", "lab-failure", "--json"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil || m["name"] != "lab-failure" || m["vm"] == nil {
		t.Errorf("show --json: %v %v", err, m)
	}

	out.Reset()
	if err := runProfile([]string{"list"}, &out, &errOut); err != nil || !strings.Contains(out.String(), "lab-split ") {
		t.Errorf("list: %v %q", err, out.String())
	}
	for _, args := range [][]string{nil, {"frobnicate"}, {"check"}, {"show", "a", "b"}, {"show", "--yaml"}} {
		if err := runProfile(args, &out, &errOut); !errors.As(err, &ue) {
			t.Errorf("profile %v: %v, want a usage error", args, err)
		}
	}
	if err := runProfile([]string{"--help"}, &out, &errOut); !errors.Is(err, errHelp) {
		t.Errorf("profile --help: %v", err)
	}
}

// strip drops what depends on the file rather than the profile.
func strip(p *profiles.Profile) profiles.Profile {
	c := *p
	c.Source = ""
	c.Scenario = append([]profiles.Step(nil), p.Scenario...)
	for i := range c.Scenario {
		c.Scenario[i].Line = 0
	}
	return c
}

// TestE2ELabs runs every lab that has a guide, headless, with the real
// binary, to the end.
func TestE2ELabs(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs agent processes")
	}
	g := guides(t)
	paths := make([]string, 0, len(g))
	for path := range g {
		paths = append(paths, path)
	}
	sort.Strings(paths) // lab 1 first, as a class would run them
	for _, path := range paths {
		lab := g[path]
		p, _ := profiles.Embedded(lab)
		if p == nil || p.VM.Driver != "synthetic" {
			t.Errorf("%s: lab %s is not a shipped synthetic profile", path, lab)
			continue
		}
		t.Run(lab, func(t *testing.T) { runLab(t, p, 2*time.Minute) })
	}
}

// TestE2EQEMULabs runs the real-guest variant (LAB-qemu) of every lab that
// has one, headless, to the end: QEMU guests need root (FUSE memory,
// network namespaces) and the verifying guest (make guest). Each boots
// QEMU; run it alone on a small machine.
func TestE2EQEMULabs(t *testing.T) {
	testreq.SplitQEMU(t)
	var labs []string
	for _, lab := range guides(t) {
		if _, ok := profiles.Embedded(lab + "-qemu"); ok {
			labs = append(labs, lab+"-qemu")
		}
	}
	sort.Strings(labs)
	if len(labs) < 2 {
		t.Fatalf("QEMU variants of the labs: %v, want at least lab-split-qemu and lab-methods-qemu", labs)
	}
	for _, name := range labs {
		p, _ := profiles.Embedded(name)
		if p.VM.Driver != "qemu" {
			t.Errorf("%s: driver %s, want qemu", name, p.VM.Driver)
			continue
		}
		t.Run(name, func(t *testing.T) { runLab(t, p, 8*time.Minute) })
	}
}

// runLab runs p with `dcres run --json` and checks that every step ran, in
// order, that every verify is clean (and there is one), and that no dcres
// checkpoint moved a byte over the network.
func runLab(t *testing.T, p *profiles.Profile, timeout time.Duration) {
	t.Helper()
	out, err := runJSON(t, p.Name, timeout)
	if err != nil {
		t.Fatalf("dcres run %s: %v\nstderr: %s\nsummary: %+v", p.Name, err, out.stderr, out.summary)
	}
	if !out.summary.OK || out.summary.Profile != p.Name || len(out.summary.Steps) != len(p.Scenario) {
		t.Fatalf("summary: %+v", out.summary)
	}
	verified := 0
	for i, st := range out.summary.Steps {
		if st.Step != p.Scenario[i].Kind || st.Line != p.Scenario[i].Line {
			t.Errorf("step %d is %s at line %d, want %s at line %d", i, st.Step, st.Line, p.Scenario[i].Kind, p.Scenario[i].Line)
		}
		if st.Step == "verify" {
			if st.Errors == nil || *st.Errors != 0 || st.Pages == nil || *st.Pages == 0 {
				t.Errorf("verify at line %d: %+v", st.Line, st)
			}
			verified++
		}
		if st.Step == "checkpoint" && st.Method == "dcres" && (st.BytesOverNetwork == nil || *st.BytesOverNetwork != 0) {
			t.Errorf("dcres checkpoint at line %d moved %v bytes over the network, want 0", st.Line, st.BytesOverNetwork)
		}
	}
	if verified == 0 {
		t.Error("the lab never verifies the guest")
	}
}
