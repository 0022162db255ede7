package profiles

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"dcres/api"
)

func TestDefaultProfile(t *testing.T) {
	p := Default()
	want := &Profile{
		Name:        "lab-local",
		Description: p.Description,
		Lab:         &Lab{Hosts: 3, Netns: false, LinkRate: 1e9},
		KnownHosts:  "~/.config/dcres/known_hosts",
		VM: VM{
			Name: "vm1", Driver: "synthetic", MemoryBytes: 512 << 20, CPUs: 1,
			Split:      []Share{{"main", 0.5}, {"sub1", 0.25}, {"sub2", 0.25}},
			CacheBytes: roundPage(512 << 20 / 10),
			Workload:   Workload{Pattern: "hotcold", DirtyRate: 32 << 20, ReadRate: 128 << 20, Seed: 7, HotFraction: 0.1},
		},
		Checkpoint: CheckpointPolicy{Method: "dcres", Precopy: DefaultPrecopy},
		Restore:    RestorePolicy{Placement: "same"},
		Scenario: []Step{
			{Kind: StepRun, Line: 17, Duration: 2 * time.Second},
			{Kind: StepCheckpoint, Line: 18, Checkpoint: api.CheckpointRequest{Method: "dcres"}},
			{Kind: StepCheckpoint, Line: 19, Checkpoint: api.CheckpointRequest{Method: "traditional"}},
			{Kind: StepRestore, Line: 20, Restore: api.RestoreRequest{From: "last-dcres", Placement: "same"}},
			{Kind: StepRun, Line: 21, Duration: time.Second},
			{Kind: StepVerify, Line: 22},
		},
		Source: "lab-local.yaml",
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("Default() =\n%+v\nwant\n%+v", p, want)
	}
	if got := p.HostNames(); !reflect.DeepEqual(got, []string{"main", "sub1", "sub2"}) {
		t.Errorf("HostNames() = %v", got)
	}
	if p.MainHost() != "main" {
		t.Errorf("MainHost() = %q", p.MainHost())
	}
}

func TestEmbedded(t *testing.T) {
	if got := EmbeddedNames(); !reflect.DeepEqual(got, []string{"lab-failure", "lab-failure-qemu", "lab-live", "lab-live-qemu", "lab-local", "lab-methods", "lab-methods-qemu", "lab-netns", "lab-qemu", "lab-split", "lab-split-qemu"}) {
		t.Fatalf("EmbeddedNames() = %v", got)
	}
	n, ok := Embedded("lab-netns")
	if !ok || n.Name != "lab-netns" || !n.Lab.Netns || n.Lab.LinkRate != 1e9 {
		t.Fatalf("Embedded(lab-netns) = %+v, %v", n, ok)
	}
	// Apart from name, description and netns it is lab-local.
	l := Default()
	n.Name, n.Description, n.Lab.Netns, n.Source = l.Name, l.Description, false, l.Source
	if !reflect.DeepEqual(n, l) {
		t.Errorf("lab-netns differs from lab-local beyond netns:\n%+v\n%+v", n, l)
	}
	q, ok := Embedded("lab-qemu")
	if !ok || q.VM.Driver != "qemu" || !q.Lab.Netns || len(q.Scenario) != 7 {
		t.Errorf("Embedded(lab-qemu) = %+v, %v", q, ok)
	}
	if _, ok := Embedded("nope"); ok {
		t.Error("Embedded(nope) found something")
	}
}

func TestDefaultsFilledIn(t *testing.T) {
	p, err := Parse("dir/mini.yaml", []byte("lab: {}\nvm: {memory: 64MiB}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "mini" || p.Source != "dir/mini.yaml" || *p.Lab != (Lab{Hosts: 3}) || p.KnownHosts != defaultKnownHosts {
		t.Errorf("top-level defaults: %+v", p)
	}
	hosts := 3.0
	third := 100 / hosts / 100 // as evenSplit computes it, in floats
	wantVM := VM{Name: "vm", Driver: "synthetic", MemoryBytes: 64 << 20, CPUs: 1,
		Split:      []Share{{"main", third}, {"sub1", third}, {"sub2", third}},
		CacheBytes: roundPage(64 << 20 / 10),
		Workload:   Workload{Pattern: "hotcold", DirtyRate: 32 << 20, ReadRate: 128 << 20, Seed: 1, HotFraction: 0.1}}
	if !reflect.DeepEqual(p.VM, wantVM) {
		t.Errorf("vm defaults = %+v; want %+v", p.VM, wantVM)
	}
	if p.Checkpoint != (CheckpointPolicy{Method: "dcres", Precopy: DefaultPrecopy}) || p.Restore.Placement != "same" || p.Scenario != nil {
		t.Errorf("policy defaults: %+v %+v %+v", p.Checkpoint, p.Restore, p.Scenario)
	}
}

func TestHostsAndSizes(t *testing.T) {
	src := `
hosts:
  - {name: alpha, address: "10.0.0.1:2222", user: ops, key: ~/.ssh/id_ed25519, data: /srv/dcres, command: "agent"}
  - {name: beta, address: beta.example}
  - {name: gamma, address: "fd00::1"}
vm:
  driver: qemu
  cpus: 2
  memory: 1GiB
  split: {alpha: 512MiB, beta: 256MiB, gamma: 256MiB}
  cache: 64MiB
  workload: {hot_fraction: 25%}
checkpoint: {method: qemu-stream, live: true}
restore: {placement: {hosts: {beta: 40%, alpha: 60%}}}
scenario:
  - checkpoint:
  - restore: {from: c-42}
  - verify: {checkpoint: last}
  - pause-for-reader: "look at the map"
`
	p, err := Parse("real.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Host{
		{"alpha", "10.0.0.1:2222", "ops", "~/.ssh/id_ed25519", "/srv/dcres", "agent"},
		{"beta", "beta.example:22", defaultUser, "", defaultData, defaultCommand},
		{"gamma", "[fd00::1]:22", defaultUser, "", defaultData, defaultCommand},
	}
	if !reflect.DeepEqual(p.Hosts, want) || p.Lab != nil {
		t.Errorf("hosts = %+v", p.Hosts)
	}
	if got := p.HostNames(); !reflect.DeepEqual(got, []string{"alpha", "beta", "gamma"}) {
		t.Errorf("HostNames() = %v", got)
	}
	if !reflect.DeepEqual(p.VM.Split, []Share{{"alpha", 0.5}, {"beta", 0.25}, {"gamma", 0.25}}) {
		t.Errorf("split = %v", p.VM.Split)
	}
	if p.VM.CPUs != 2 || p.VM.CacheBytes != 64<<20 || p.VM.Workload.HotFraction != 0.25 {
		t.Errorf("vm = %+v", p.VM)
	}
	if p.Restore.Placement != "beta=40%,alpha=60%" {
		t.Errorf("placement = %q", p.Restore.Placement)
	}
	// Steps take their defaults from the policies.
	wantSteps := []Step{
		{Kind: StepCheckpoint, Line: 16, Checkpoint: api.CheckpointRequest{Method: "qemu-stream", Live: true}},
		{Kind: StepRestore, Line: 17, Restore: api.RestoreRequest{From: "c-42", Placement: "beta=40%,alpha=60%"}},
		{Kind: StepVerify, Line: 18, VerifyCheckpoint: "last"},
		{Kind: StepPauseForReader, Line: 19, Text: "look at the map"},
	}
	if !reflect.DeepEqual(p.Scenario, wantSteps) {
		t.Errorf("scenario =\n%+v\nwant\n%+v", p.Scenario, wantSteps)
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.yaml")
	if err := os.WriteFile(path, []byte("lab: {hosts: 1}\nvm: {memory: 16MiB, split: {main: 100%}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(path)
	if err != nil || p.Source != path || p.Name != "x" || !reflect.DeepEqual(p.HostNames(), []string{"main"}) {
		t.Fatalf("Load = %+v, %v", p, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load(missing) error = %v", err)
	}
}

func TestPlacements(t *testing.T) {
	good := map[string]string{
		"same": "same", " single:sub1 ": "single:sub1", "main=40%,sub1=60%": "main=40%,sub1=60%",
		"main = 12.5%, sub1=87.5%": "main=12.5%,sub1=87.5%",
	}
	for in, want := range good {
		if got, err := ParsePlacement(in); err != nil || got != want {
			t.Errorf("ParsePlacement(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                  "not understood",
		"spread":            "not understood",
		"single:Main":       `host name "Main" is not allowed`,
		"main=40%,sub1=50%": "sum to 90%",
		"main=50%,main=50%": "named twice",
		"main=50,sub1=50%":  `lacks "%"`,
		"main=100%,":        `"" is not HOST=P%`,
	}
	for in, want := range bad {
		_, err := ParsePlacement(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "allowed") && !strings.Contains(err.Error(), "use") {
			t.Errorf("ParsePlacement(%q) error = %v; want %q", in, err, want)
		}
	}
	p := Default()
	if err := p.CheckPlacement("main=50%,sub2=50%"); err != nil {
		t.Error(err)
	}
	if err := p.CheckPlacement("single:sub3"); err == nil || !strings.Contains(err.Error(), `"sub3"`) || !strings.Contains(err.Error(), "main, sub1, sub2") {
		t.Errorf("CheckPlacement(single:sub3) = %v", err)
	}
}

func TestErrorListUnwraps(t *testing.T) {
	_, err := Parse("two.yaml", []byte("lab: {hosts: 0}\nvm: {memory: 1MiB}\n"))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 2 {
		t.Fatalf("want an ErrorList of 2, got %v", err)
	}
	var first *Error
	if !errors.As(err, &first) || first.Line != 1 {
		t.Errorf("errors.As *Error = %v", first)
	}
	if lines := strings.Split(err.Error(), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "two.yaml:2:") {
		t.Errorf("Error() = %q", err.Error())
	}
}

// Invariants every accepted profile holds, whatever its text.
func checkInvariants(t *testing.T, p *Profile) {
	t.Helper()
	if p.VM.MemoryBytes < minMemory || p.VM.MemoryBytes > maxMemory || p.VM.MemoryBytes%api.PageSize != 0 {
		t.Errorf("memory %d accepted", p.VM.MemoryBytes)
	}
	hosts := p.HostNames()
	if len(hosts) < 1 || len(hosts) > maxHosts || len(p.VM.Split) != len(hosts) {
		t.Errorf("hosts %v, split %v", hosts, p.VM.Split)
	}
	var sum float64
	for i, s := range p.VM.Split {
		sum += s.Fraction
		if i < len(hosts) && i == 0 && s.Host != hosts[0] {
			t.Errorf("split starts with %s, not the main host", s.Host)
		}
	}
	if math.Abs(sum-1) > 1e-6 {
		t.Errorf("split sums to %g", sum)
	}
	if p.VM.CacheBytes < api.PageSize || p.VM.CacheBytes > p.VM.MemoryBytes || p.VM.CacheBytes%api.PageSize != 0 {
		t.Errorf("cache %d accepted", p.VM.CacheBytes)
	}
	if err := p.CheckPlacement(p.Restore.Placement); err != nil {
		t.Error(err)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"lab-local.yaml", "lab-netns.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	broken, _ := filepath.Glob("testdata/*.yaml")
	for _, name := range broken {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if (p == nil) == (err == nil) {
			t.Fatalf("Parse returned profile %v and error %v", p, err)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), "fuzz.yaml:") {
				t.Fatalf("error without position: %v", err)
			}
			return
		}
		checkInvariants(t, p)
	})
}
