package profiles

import (
	"strings"
	"testing"
)

const redundancyBase = `name: r
lab: {hosts: 3}
vm: {memory: 64MiB}
`

// TestRedundancyForms: replicas: N and redundancy: {replicas: N} are the
// same, at the top and in steps; parity is read; conflicts are errors; a
// profile shown is read back the same.
func TestRedundancyForms(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"checkpoint: {replicas: 1}\n", "r1 p0"},
		{"checkpoint: {redundancy: {replicas: 1}}\n", "r1 p0"},
		{"checkpoint: {replicas: 1, redundancy: {replicas: 1}}\n", "r1 p0"},
		{"checkpoint: {redundancy: {parity: 1}}\n", "r0 p1"},
		{"checkpoint: {redundancy: {parity: 1}}\nscenario:\n  - checkpoint: {method: traditional}\n", "r0 p1 step r0 p0"},
		{"checkpoint: {redundancy: {parity: 1}}\nscenario:\n  - checkpoint: {}\n", "r0 p1 step r0 p1"},
		{"scenario:\n  - checkpoint: {redundancy: {replicas: 2}}\n", "r0 p0 step r2 p0"},
		{"scenario:\n  - checkpoint: {replicas: 2}\n", "r0 p0 step r2 p0"},
	} {
		p, err := Parse("r.yaml", []byte(redundancyBase+c.text))
		if err != nil {
			t.Errorf("%q: %v", c.text, err)
			continue
		}
		got := redundancyOf(p)
		if got != c.want {
			t.Errorf("%q: %s, want %s", c.text, got, c.want)
		}
		y, err := p.YAML()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse("shown.yaml", y)
		if err != nil || redundancyOf(back) != got {
			t.Errorf("%q shown as\n%s\nreads back as %v %v", c.text, y, redundancyOf(back), err)
		}
	}
	for _, c := range []struct{ text, want string }{
		{"checkpoint: {replicas: 1, redundancy: {replicas: 2}}\n", "checkpoint.redundancy.replicas"},
		{"checkpoint: {redundancy: {replicas: 1, parity: 1}}\n", "replicas or parity, not both"},
		{"checkpoint: {method: traditional, redundancy: {parity: 1}}\n", "method dcres"},
		{"checkpoint: {redundancy: {copies: 1}}\n", "unknown key"},
		{"scenario:\n  - checkpoint: {redundancy: {parity: -1}}\n", "parity shards"},
	} {
		_, err := Parse("r.yaml", []byte(redundancyBase+c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error naming %q", c.text, err, c.want)
		}
	}
}

func redundancyOf(p *Profile) string {
	s := fmtRP(p.Checkpoint.Replicas, p.Checkpoint.Parity)
	for _, st := range p.Scenario {
		if st.Kind == StepCheckpoint {
			s += " step " + fmtRP(st.Checkpoint.Replicas, st.Checkpoint.Parity)
		}
	}
	return s
}

func fmtRP(r, p int) string { return "r" + string(rune('0'+r)) + " p" + string(rune('0'+p)) }
