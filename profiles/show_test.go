package profiles

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// roundTrip checks that YAML output loads back to the same profile, and
// that JSON output carries the same keys.
func roundTrip(t *testing.T, p *Profile) {
	t.Helper()
	out, err := p.YAML()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Parse("shown.yaml", out)
	if err != nil {
		t.Fatalf("show output of %s does not load:\n%v\n%s", p.Name, err, out)
	}
	if !reflect.DeepEqual(comparable(p), comparable(q)) {
		t.Errorf("show output of %s loads to another profile:\n%+v\nwant\n%+v\n%s", p.Name, q, p, out)
	}
	again, _ := q.YAML()
	if string(again) != string(out) {
		t.Errorf("show is not stable for %s:\n%s\n---\n%s", p.Name, out, again)
	}
	js, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatalf("JSON of %s: %v\n%s", p.Name, err, js)
	}
	for _, k := range schema[""] {
		if _, ok := m[k]; !ok && k != "lab" && k != "hosts" && k != "scenario" {
			t.Errorf("JSON of %s lacks key %q", p.Name, k)
		}
	}
}

// comparable drops what depends on the file rather than the profile.
func comparable(p *Profile) Profile {
	c := *p
	c.Source = ""
	c.Scenario = append([]Step(nil), p.Scenario...)
	for i := range c.Scenario {
		c.Scenario[i].Line = 0
	}
	return c
}

func TestShowShippedRoundTrip(t *testing.T) {
	for _, name := range EmbeddedNames() {
		p, _ := Embedded(name)
		t.Run(name, func(t *testing.T) { roundTrip(t, p) })
	}
}

func TestShowRoundTripShapes(t *testing.T) {
	srcs := map[string]string{
		"defaults":  "lab: {}\nvm: {memory: 64MiB}\n",
		"thirds":    "lab: {hosts: 3}\nvm: {memory: 100MiB, cache: 7%}\n",
		"sevenths":  "lab: {hosts: 7}\nvm: {memory: 1000MiB, split: {main: 10%, sub1: 15%, sub2: 15%, sub3: 15%, sub4: 15%, sub5: 15.5%, sub6: 14.5%}}\n",
		"sizes":     "lab: {hosts: 2}\nvm: {memory: 65540KiB, split: {main: 4KiB, sub1: 65536KiB}, workload: {dirty_rate: 1000000, read_rate: 1GB/s, hot_fraction: 33.3%}}\n",
		"odd-rates": "lab: {hosts: 2, netns: true, link: {rate: 1234567}}\nvm: {memory: 64MiB}\nscenario:\n  - fault: {slow: sub1, rate: 1500kbit}\n  - run: 1m30.5s\n",
		"hosts": `hosts:
  - {name: main, address: "10.0.0.1:2222", user: root, key: ~/.ssh/k, data: /srv/d, command: "x agent --stdio"}
  - {name: b, address: "[::1]:22"}
known_hosts: /tmp/kh
vm: {name: big, driver: qemu, memory: 2GiB, cpus: 4, split: {main: 1GiB, b: 1GiB}}
checkpoint: {dir: /ckpt, method: qemu-stream, live: true, incremental: true}
restore: {placement: {single: b}}
scenario:
  - checkpoint:
  - restore: {from: some-id.1, placement: "main=12.5%,b=87.5%"}
  - verify: {checkpoint: last-qemu-stream}
  - verify:
  - pause-for-reader: "a \"quoted\" text\nover two lines: with colons"
`,
	}
	for name, src := range srcs {
		t.Run(name, func(t *testing.T) {
			p, err := Parse(name+".yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, p)
		})
	}
}

func TestShowFillsDefaults(t *testing.T) {
	p, err := Parse("mini.yaml", []byte("lab: {}\nvm: {memory: 64MiB}\n"))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := p.YAML()
	for _, want := range []string{
		"name: mini", "hosts: 3", "netns: false", "rate: \"0\"", "known_hosts: ~/.config/dcres/known_hosts",
		"driver: synthetic", "memory: 64MiB", "cpus: 1", "cache: 6552KiB", "pattern: hotcold",
		"dirty_rate: 32MiB/s", "read_rate: 128MiB/s", "seed: 1", "hot_fraction: 0.1",
		"method: dcres", "placement: same",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("show output lacks %q:\n%s", want, out)
		}
	}
}

func TestFormatFraction(t *testing.T) {
	for _, f := range []float64{0, 1, 0.5, 0.1, 0.3, 1.0 / 3, 2.0 / 3, 1.0 / 7, 0.155, 4096.0 / 67112960} {
		s := formatFraction(f)
		if !strings.HasSuffix(s, "%") || strings.ContainsAny(s, "eE") {
			t.Errorf("formatFraction(%v) = %q", f, s)
		}
	}
	if got := formatFraction(0.25); got != "25%" {
		t.Errorf("formatFraction(0.25) = %q", got)
	}
}

// TestShowRoundTripRandomSplits tries many written and even splits: every
// share must come back as the same float.
func TestShowRoundTripRandomSplits(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		n := 2 + r.IntN(15)
		var b strings.Builder
		fmt.Fprintf(&b, "lab: {hosts: %d}\nvm: {memory: 1GiB", n)
		if i%3 != 0 { // every third keeps the even split
			b.WriteString(", split: {")
			left := 100000 // thousandths of a percent
			for h := range n {
				v := left
				if h < n-1 {
					v = r.IntN(left/2 + 1)
				}
				left -= v
				name := "main"
				if h > 0 {
					name = fmt.Sprintf("sub%d", h)
				}
				fmt.Fprintf(&b, "%s: %d.%03d%%, ", name, v/1000, v%1000)
			}
			b.WriteString("}")
		}
		b.WriteString("}\n")
		p, err := Parse("r.yaml", []byte(b.String()))
		if err != nil {
			t.Fatalf("%s: %v", b.String(), err)
		}
		roundTrip(t, p)
	}
}
