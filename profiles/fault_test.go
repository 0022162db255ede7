package profiles

import (
	"reflect"
	"testing"
)

const netnsBase = "lab: {hosts: 3, netns: true}\nvm: {memory: 64MiB}\nscenario:\n"

func TestFaultSteps(t *testing.T) {
	src := netnsBase + "  - fault: {kill: sub2}\n  - fault: {cut: sub1}\n  - fault: {restore-link: sub1}\n  - fault: {slow: main, rate: 10mbit}\n"
	p, err := Parse("f.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Fault{{FaultKill, "sub2", 0}, {FaultCut, "sub1", 0}, {FaultRestoreLink, "sub1", 0}, {FaultSlow, "main", 10e6}}
	if len(p.Scenario) != len(want) {
		t.Fatalf("%d steps, want %d", len(p.Scenario), len(want))
	}
	for i, st := range p.Scenario {
		if st.Kind != StepFault || st.Line != 4+i || !reflect.DeepEqual(st.Fault, want[i]) {
			t.Errorf("step %d = %+v, want fault %+v at line %d", i, st, want[i], 4+i)
		}
	}
	// kill needs no netns.
	if _, err := Parse("k.yaml", []byte(base+"scenario:\n  - fault: {kill: sub1}\n")); err != nil {
		t.Errorf("kill in a loopback lab: %v", err)
	}
}

func TestFaultErrors(t *testing.T) {
	cases := []struct {
		name, src string
		line, col int
		want      []string
	}{
		{"unknown host", netnsBase + "  - fault: {kill: sub9}\n", 4, 19, []string{"scenario[0].fault.kill", "host sub9 is not in this lab: main, sub1, sub2"}},
		{"unknown host near", netnsBase + "  - fault: {cut: sbu1}\n", 4, 18, []string{"not in this lab", `did you mean "sub1"`}},
		{"bad host name", netnsBase + "  - fault: {kill: Sub_1}\n", 4, 19, []string{`host name "Sub_1" is not allowed`}},
		{"unknown action", netnsBase + "  - fault: {crash: sub1}\n", 4, 13, []string{`unknown key "crash"`, "kill, cut, restore-link, slow, rate"}},
		{"no action", netnsBase + "  - fault: {}\n", 4, 12, []string{"names no action", "{kill: HOST}"}},
		{"only rate", netnsBase + "  - fault: {rate: 1mbit}\n", 4, 12, []string{"only a rate"}},
		{"two actions", netnsBase + "  - fault: {kill: sub1, cut: sub2}\n", 4, 12, []string{"kill and cut", "own"}},
		{"slow without rate", netnsBase + "  - fault: {slow: sub1}\n", 4, 12, []string{"slow needs the link rate", "rate: 10mbit"}},
		{"rate without slow", netnsBase + "  - fault: {cut: sub1, rate: 1mbit}\n", 4, 24, []string{"cut takes no rate", "rate with slow only"}},
		{"bad rate", netnsBase + "  - fault: {slow: sub1, rate: 10MiB}\n", 4, 31, []string{"scenario[0].fault.rate", `unknown unit "MiB"`}},
		{"zero rate", netnsBase + "  - fault: {slow: sub1, rate: 0}\n", 4, 31, []string{"use cut"}},
		{"link fault on loopback", base + "scenario:\n  - fault: {cut: sub1}\n", 4, 13, []string{"lab.netns: true"}},
		{"real hosts", "hosts: [{name: main, address: a}]\nvm: {memory: 64MiB}\nscenario:\n  - fault: {kill: main}\n", 4, 13, []string{"real hosts", "lab profiles only"}},
		{"not a mapping", netnsBase + "  - fault: sub1\n", 4, 12, []string{"expected a mapping"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("case.yaml", []byte(c.src))
			expectError(t, err, "case.yaml", c.line, c.col, c.want)
		})
	}
}
