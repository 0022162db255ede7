package profiles

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// base is a valid profile the error cases below extend.
const base = "lab: {hosts: 3}\nvm: {memory: 512MiB}\n"

func TestErrors(t *testing.T) {
	cases := []struct {
		name, src string
		line, col int
		want      []string // all in one error's text
	}{
		{"empty", "", 1, 1, []string{"profile is empty"}},
		{"syntax", "lab: {hosts: 3\nvm: x\n", 1, 1, []string{"YAML syntax"}},
		{"two documents", base + "---\nname: x\n", 3, 1, []string{"one YAML document"}},
		{"not a mapping", "- a\n", 1, 1, []string{"expected a mapping"}},
		{"unknown top key", base + "checkpiont: {}\n", 3, 1, []string{`unknown key "checkpiont"`, `did you mean "checkpoint"`, "allowed: name, description, lab, hosts"}},
		{"unknown vm key", "lab: {}\nvm:\n  memory: 64MiB\n  cpu: 1\n", 4, 3, []string{"vm.cpu", `did you mean "cpus"`, "allowed: name, driver, memory"}},
		{"far unknown key", base + "zzzzzzzzzz: 1\n", 3, 1, []string{`unknown key "zzzzzzzzzz"`, "allowed:"}},
		{"duplicate key", "lab: {}\nvm:\n  memory: 64MiB\n  memory: 128MiB\n", 4, 3, []string{`duplicate key "memory"`, "line 3"}},
		{"both lab and hosts", base + "hosts: [{name: main, address: a}]\n", 3, 1, []string{"both lab and hosts"}},
		{"neither lab nor hosts", "vm: {memory: 64MiB}\n", 1, 1, []string{"no cluster", "lab: {hosts: 3}"}},
		{"lab too big", "lab: {hosts: 17}\nvm: {memory: 64MiB}\n", 1, 14, []string{"lab.hosts", "17", "1 to 16"}},
		{"lab zero", "lab: {hosts: 0}\nvm: {memory: 64MiB}\n", 1, 14, []string{"1 to 16"}},
		{"lab hosts not a number", "lab: {hosts: three}\nvm: {memory: 64MiB}\n", 1, 14, []string{"whole number", `"three"`}},
		{"netns not bool", "lab: {netns: maybe}\nvm: {memory: 64MiB}\n", 1, 14, []string{"true or false"}},
		{"bad link rate", "lab: {link: {rate: 1GiB}}\nvm: {memory: 64MiB}\n", 1, 20, []string{"lab.link.rate", `unknown unit "GiB"`, "gbit"}},
		{"no hosts", "hosts: []\nvm: {memory: 64MiB}\n", 1, 8, []string{"0 hosts", "1 to 16"}},
		{"host name invalid", "hosts:\n  - {name: Main_1, address: a}\nvm: {memory: 64MiB}\n", 2, 12, []string{`"Main_1"`, "a-z, 0-9"}},
		{"host name duplicate", "hosts:\n  - {name: a, address: x}\n  - {name: a, address: y}\nvm: {memory: 64MiB}\n", 3, 12, []string{"already used by hosts[0]"}},
		{"host without address", "hosts:\n  - {name: a}\nvm: {memory: 64MiB}\n", 2, 5, []string{"no address"}},
		{"host bad port", "hosts:\n  - {name: a, address: \"x:99999\"}\nvm: {memory: 64MiB}\n", 2, 24, []string{"1 to 65535"}},
		{"host relative data", "hosts:\n  - {name: a, address: x, data: srv}\nvm: {memory: 64MiB}\n", 2, 33, []string{"relative", "absolute"}},
		{"no vm", "lab: {}\n", 1, 1, []string{"no vm section"}},
		{"no memory", "lab: {}\nvm: {driver: qemu}\n", 2, 5, []string{"no memory", "16MiB to 64GiB"}},
		{"memory unit", "lab: {}\nvm: {memory: 512 parsecs}\n", 2, 14, []string{"vm.memory", `unknown unit "parsecs"`, "MiB"}},
		{"memory not pages", "lab: {}\nvm: {memory: 16777217}\n", 2, 14, []string{"multiple of 4 KiB"}},
		{"memory too small", "lab: {}\nvm: {memory: 8MiB}\n", 2, 14, []string{"out of range", "16MiB to 64GiB"}},
		{"memory too big", "lab: {}\nvm: {memory: 65GiB}\n", 2, 14, []string{"out of range"}},
		{"driver unknown", "lab: {}\nvm: {memory: 64MiB, driver: qmeu}\n", 2, 29, []string{`unknown driver "qmeu"`, `did you mean "qemu"`, "synthetic, qemu"}},
		{"cpus for synthetic", "lab: {}\nvm: {memory: 64MiB, cpus: 2}\n", 2, 27, []string{"driver qemu"}},
		{"cpus range", "lab: {}\nvm: {memory: 64MiB, driver: qemu, cpus: 0}\n", 2, 41, []string{"1 to 64"}},
		{"split sum", base[:16] + "vm: {memory: 64MiB, split: {main: 50%, sub1: 25%, sub2: 15%}}\n", 2, 28, []string{"sum to 90%", "100%"}},
		{"split unknown host", base[:16] + "vm: {memory: 64MiB, split: {main: 50%, sub1: 25%, sub3: 25%}}\n", 2, 51, []string{`unknown host "sub3"`, "main, sub1, sub2"}},
		{"split missing host", base[:16] + "vm: {memory: 64MiB, split: {main: 50%, sub1: 50%}}\n", 2, 28, []string{"lacks host sub2"}},
		{"split main not first", base[:16] + "vm: {memory: 64MiB, split: {sub1: 50%, main: 25%, sub2: 25%}}\n", 2, 29, []string{`main host "main" first`}},
		{"split mixed", base[:16] + "vm: {memory: 64MiB, split: {main: 50%, sub1: 16MiB, sub2: 16MiB}}\n", 2, 28, []string{"mixes percentages and sizes"}},
		{"split sizes sum", base[:16] + "vm: {memory: 64MiB, split: {main: 32MiB, sub1: 16MiB, sub2: 8MiB}}\n", 2, 28, []string{"sizes sum to 56 MiB, not the memory 64 MiB"}},
		{"split duplicate", base[:16] + "vm: {memory: 64MiB, split: {main: 50%, main: 50%}}\n", 2, 40, []string{`duplicate key "main"`}},
		{"split bad percent", base[:16] + "vm: {memory: 64MiB, split: {main: 150%, sub1: 0%, sub2: 0%}}\n", 2, 35, []string{"over 100%"}},
		{"cache too big", "lab: {}\nvm: {memory: 64MiB, cache: 128MiB}\n", 2, 28, []string{"vm.cache", "at most the memory"}},
		{"cache zero", "lab: {}\nvm: {memory: 64MiB, cache: 0%}\n", 2, 28, []string{"at least 4 KiB"}},
		{"pattern unknown", "lab: {}\nvm: {memory: 64MiB, workload: {pattern: hot-cold}}\n", 2, 41, []string{`unknown pattern "hot-cold"`, `did you mean "hotcold"`}},
		{"rate unit", "lab: {}\nvm: {memory: 64MiB, workload: {dirty_rate: 32MiB}}\n", 2, 44, []string{"vm.workload.dirty_rate", `lacks "/s"`}},
		{"hot fraction", "lab: {}\nvm: {memory: 64MiB, workload: {hot_fraction: 2}}\n", 2, 46, []string{"out of range", "at most 1"}},
		{"vm name", "lab: {}\nvm: {memory: 64MiB, name: ../etc}\n", 2, 27, []string{`VM name "../etc"`}},
		{"method unknown", base + "checkpoint: {method: criu}\n", 3, 22, []string{`unknown method "criu"`, "dcres, traditional, qemu-stream"}},
		{"qemu-stream needs qemu", base + "checkpoint: {method: qemu-stream}\n", 3, 22, []string{"needs driver qemu"}},
		{"live not bool", base + "checkpoint: {live: 1}\n", 3, 20, []string{"true or false"}},
		{"placement unknown host", base + "restore: {placement: {single: sub5}}\n", 3, 31, []string{`unknown host "sub5"`, "main, sub1, sub2"}},
		{"placement both", base + "restore: {placement: {single: main, hosts: {main: 100%}}}\n", 3, 22, []string{"exactly one of single and hosts"}},
		{"placement sum", base + "restore: {placement: {hosts: {main: 40%, sub1: 40%}}}\n", 3, 30, []string{"sum to 80%"}},
		{"placement scalar", base + "restore: {placement: \"main=50%,sub9=50%\"}\n", 3, 22, []string{`unknown host "sub9"`}},
		{"placement word", base + "restore: {placement: spread}\n", 3, 22, []string{"not understood", "single:HOST"}},
		{"scenario not list", base + "scenario: {run: 2s}\n", 3, 11, []string{"list of steps"}},
		{"step unknown", base + "scenario:\n  - snapshot: {}\n", 4, 5, []string{`unknown key "snapshot"`, "run, checkpoint, restore, verify, pause-for-reader"}},
		{"step two kinds", base + "scenario:\n  - {run: 2s, verify: {}}\n", 4, 5, []string{"2 keys"}},
		{"step empty", base + "scenario:\n  - {}\n", 4, 5, []string{"step is empty"}},
		{"run duration", base + "scenario:\n  - run: forever\n", 4, 10, []string{`"forever" is not a duration`, "500ms"}},
		{"run negative", base + "scenario:\n  - run: -1s\n", 4, 10, []string{"positive duration"}},
		{"restore from keyword", base + "scenario:\n  - restore: {from: last-dcrse}\n", 4, 21, []string{`unknown keyword "last-dcrse"`, `did you mean "last-dcres"`, "last-traditional"}},
		{"restore from id", base + "scenario:\n  - restore: {from: \"a/b\"}\n", 4, 21, []string{`"a/b" is not a checkpoint id`}},
		{"restore step placement", base + "scenario:\n  - restore: {placement: single:sub4}\n", 4, 26, []string{`unknown host "sub4"`}},
		{"step checkpoint key", base + "scenario:\n  - checkpoint: {metod: dcres}\n", 4, 18, []string{"scenario[0].checkpoint.metod", `did you mean "method"`}},
		{"verify ref", base + "scenario:\n  - verify: {checkpoint: latest}\n", 4, 26, []string{`unknown keyword "latest"`}},
		{"pause text", base + "scenario:\n  - pause-for-reader: \"\"\n", 4, 23, []string{"needs the text"}},
		{"name chars", base + "name: \"my profile\"\n", 3, 7, []string{"other characters"}},
		{"description not text", base + "description: [a]\n", 3, 14, []string{"expected a text value", "a list"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("case.yaml", []byte(c.src))
			expectError(t, err, "case.yaml", c.line, c.col, c.want)
		})
	}
}

// TestBrokenFiles loads the shipped broken profiles and checks every
// problem in each is reported, with its place.
func TestBrokenFiles(t *testing.T) {
	type at struct {
		line, col int
		want      []string
	}
	cases := map[string][]at{
		"typo-keys.yaml": {
			{4, 3, []string{`unknown key "memroy"`, `did you mean "memory"`}},
			{6, 32, []string{`unknown key "dirty-rate"`, `did you mean "dirty_rate"`}},
			{7, 1, []string{`unknown key "checkpiont"`}},
		},
		"bad-split.yaml":    {{4, 10, []string{"sum to 90%"}}},
		"unknown-host.yaml": {{6, 22, []string{`unknown host "sub9"`, "main, sub1"}}, {6, 10, []string{"lacks host sub1"}}},
		"bad-scenario.yaml": {
			{5, 5, []string{`unknown key "snapshot"`}},
			{6, 21, []string{`unknown keyword "latest"`}},
			{6, 49, []string{`unknown host "sub7"`, "main, sub1"}},
			{7, 26, []string{`unknown method "criu"`}},
			{8, 10, []string{"not a duration"}},
		},
		"duplicate.yaml": {{4, 3, []string{`duplicate key "memory"`}}},
		"bad-fault.yaml": {
			{6, 19, []string{"scenario[1].fault.kill", "host sub9 is not in this lab: main, sub1, sub2"}},
			{7, 12, []string{"slow needs the link rate", "rate: 10mbit"}},
		},
	}
	files, _ := filepath.Glob("testdata/*.yaml")
	if len(files) != len(cases) {
		t.Errorf("testdata has %d profiles, the test knows %d", len(files), len(cases))
	}
	for name, wants := range cases {
		path := filepath.Join("testdata", name)
		_, err := Load(path)
		var n int
		var list ErrorList
		if errors.As(err, &list) {
			n = len(list)
		} else if err != nil {
			n = 1
		}
		if n != len(wants) {
			t.Errorf("%s: %d errors, want %d:\n%v", name, n, len(wants), err)
		}
		for _, w := range wants {
			expectError(t, err, path, w.line, w.col, w.want)
		}
	}
}

// expectError checks that err holds an *Error at line:col of file whose
// text contains every string in want.
func expectError(t *testing.T, err error, file string, line, col int, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %s:%d:%d %q", file, line, col, want)
	}
	var all []*Error
	var list ErrorList
	var one *Error
	switch {
	case errors.As(err, &list):
		all = list
	case errors.As(err, &one):
		all = []*Error{one}
	default:
		t.Fatalf("error %v (%T) is not a positioned *Error", err, err)
	}
	for _, e := range all {
		text := e.Error()
		if e.File != file || e.Line != line || e.Col != col || !strings.HasPrefix(text, file+":") {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(text, w)
		}
		if ok {
			return
		}
	}
	t.Errorf("no error at %s:%d:%d containing %q; got:\n%v", file, line, col, want, err)
}

func TestSuggest(t *testing.T) {
	cases := []struct{ got, want string }{
		{"checkpiont", "checkpoint"}, {"memroy", "memory"}, {"qmeu", "qemu"}, {"criu", ""}, {"x", ""}, {"zzzzzzzz", ""},
	}
	for _, c := range cases {
		s := suggest(c.got, []string{"checkpoint", "memory", "qemu", "dcres", "vm"})
		if c.want == "" && s != "" || c.want != "" && !strings.Contains(s, `"`+c.want+`"`) {
			t.Errorf("suggest(%q) = %q; want %q", c.got, s, c.want)
		}
	}
}
