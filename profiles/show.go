package profiles

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"gopkg.in/yaml.v3"

	"dcres/internal/units"
)

// The doc* types are a Profile written back in the schema's own keys, so
// that YAML output is itself a valid profile with every default explicit.
// The same types give the JSON form, with the same keys.

type docProfile struct {
	Name        string        `yaml:"name" json:"name"`
	Description string        `yaml:"description" json:"description"`
	Lab         *docLab       `yaml:"lab,omitempty" json:"lab,omitempty"`
	Hosts       []docHost     `yaml:"hosts,omitempty" json:"hosts,omitempty"`
	KnownHosts  string        `yaml:"known_hosts" json:"known_hosts"`
	VM          docVM         `yaml:"vm" json:"vm"`
	Checkpoint  docCheckpoint `yaml:"checkpoint" json:"checkpoint"`
	Restore     docRestorePol `yaml:"restore" json:"restore"`
	Scenario    []docStep     `yaml:"scenario,omitempty" json:"scenario,omitempty"`
}

type docLab struct {
	Hosts int     `yaml:"hosts" json:"hosts"`
	Netns bool    `yaml:"netns" json:"netns"`
	Link  docLink `yaml:"link" json:"link"`
}

type docLink struct {
	Rate string `yaml:"rate" json:"rate"`
}

type docHost struct {
	Name    string `yaml:"name" json:"name"`
	Address string `yaml:"address" json:"address"`
	User    string `yaml:"user" json:"user"`
	Key     string `yaml:"key" json:"key"`
	Data    string `yaml:"data" json:"data"`
	Command string `yaml:"command" json:"command"`
}

type docVM struct {
	Name     string      `yaml:"name" json:"name"`
	Driver   string      `yaml:"driver" json:"driver"`
	Memory   string      `yaml:"memory" json:"memory"`
	CPUs     int         `yaml:"cpus" json:"cpus"`
	Split    orderedMap  `yaml:"split" json:"split"`
	Cache    string      `yaml:"cache" json:"cache"`
	Workload docWorkload `yaml:"workload" json:"workload"`
}

type docWorkload struct {
	Pattern     string  `yaml:"pattern" json:"pattern"`
	DirtyRate   string  `yaml:"dirty_rate" json:"dirty_rate"`
	ReadRate    string  `yaml:"read_rate" json:"read_rate"`
	Seed        int64   `yaml:"seed" json:"seed"`
	HotFraction float64 `yaml:"hot_fraction" json:"hot_fraction"`
}

type docCheckpoint struct {
	Dir         string `yaml:"dir" json:"dir"`
	Method      string `yaml:"method" json:"method"`
	Live        bool   `yaml:"live" json:"live"`
	Incremental bool   `yaml:"incremental" json:"incremental"`
	Replicas    int    `yaml:"replicas" json:"replicas"`
	// Redundancy is shown only for parity (replicas has its own key).
	Redundancy *docRedundancy `yaml:"redundancy,omitempty" json:"redundancy,omitempty"`
	Every      string         `yaml:"every,omitempty" json:"every,omitempty"`
	Keep       int            `yaml:"keep,omitempty" json:"keep,omitempty"`
	Precopy    docPrecopy     `yaml:"precopy" json:"precopy"`
}

type docPrecopy struct {
	MaxRounds   int    `yaml:"max_rounds" json:"max_rounds"`
	TargetPause string `yaml:"target_pause" json:"target_pause"`
	StopShrink  string `yaml:"stop_shrink" json:"stop_shrink"`
}

type docRestorePol struct {
	Placement string `yaml:"placement" json:"placement"`
}

// docStep has exactly one field set, the step's kind.
type docStep struct {
	Run            string             `yaml:"run,omitempty" json:"run,omitempty"`
	Checkpoint     *docStepCheckpoint `yaml:"checkpoint,omitempty" json:"checkpoint,omitempty"`
	Restore        *docStepRestore    `yaml:"restore,omitempty" json:"restore,omitempty"`
	Verify         *docStepVerify     `yaml:"verify,omitempty" json:"verify,omitempty"`
	PauseForReader string             `yaml:"pause-for-reader,omitempty" json:"pause-for-reader,omitempty"`
	Fault          *orderedMap        `yaml:"fault,omitempty" json:"fault,omitempty"`
}

type docStepCheckpoint struct {
	Method      string         `yaml:"method" json:"method"`
	Live        bool           `yaml:"live" json:"live"`
	Incremental bool           `yaml:"incremental" json:"incremental"`
	Replicas    int            `yaml:"replicas" json:"replicas"`
	Redundancy  *docRedundancy `yaml:"redundancy,omitempty" json:"redundancy,omitempty"`
}

type docRedundancy struct {
	Parity int `yaml:"parity" json:"parity"`
}

func docParity(n int) *docRedundancy {
	if n == 0 {
		return nil
	}
	return &docRedundancy{Parity: n}
}

type docStepRestore struct {
	From      string `yaml:"from" json:"from"`
	Placement string `yaml:"placement" json:"placement"`
	Lazy      bool   `yaml:"lazy,omitempty" json:"lazy,omitempty"`
}

type docStepVerify struct {
	Checkpoint string `yaml:"checkpoint,omitempty" json:"checkpoint,omitempty"`
}

type docShareItem struct{ key, val string }

// orderedMap is a mapping of text values that keeps its order, because a
// split lists the main host first.
type orderedMap []docShareItem

func (m orderedMap) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	for _, it := range m {
		n.Content = append(n.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: it.key},
			&yaml.Node{Kind: yaml.ScalarNode, Value: it.val})
	}
	return n, nil
}

func (m orderedMap) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, it := range m {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(it.key)
		v, _ := json.Marshal(it.val)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// YAML renders the profile with every default filled in, in the schema's
// keys: the output loads back to the same Profile (apart from Source and
// step line numbers).
func (p *Profile) YAML() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s with every default filled in (dcres profile show)\n", p.Name)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(p.doc()); err != nil {
		return nil, fmt.Errorf("render profile %s: %w", p.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render profile %s: %w", p.Name, err)
	}
	return b.Bytes(), nil
}

// JSON renders the same document as YAML does, as indented JSON.
func (p *Profile) JSON() ([]byte, error) {
	out, err := json.MarshalIndent(p.doc(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render profile %s: %w", p.Name, err)
	}
	return append(out, '\n'), nil
}

func (p *Profile) doc() docProfile {
	d := docProfile{Name: p.Name, Description: p.Description, KnownHosts: p.KnownHosts}
	if p.Lab != nil {
		d.Lab = &docLab{Hosts: p.Lab.Hosts, Netns: p.Lab.Netns, Link: docLink{Rate: formatBitRate(p.Lab.LinkRate)}}
	}
	for _, h := range p.Hosts {
		d.Hosts = append(d.Hosts, docHost(h))
	}
	vm := p.VM
	d.VM = docVM{Name: vm.Name, Driver: vm.Driver, Memory: formatSize(vm.MemoryBytes), CPUs: vm.CPUs, Cache: formatSize(vm.CacheBytes)}
	for _, s := range vm.Split {
		d.VM.Split = append(d.VM.Split, docShareItem{s.Host, formatFraction(s.Fraction)})
	}
	w := vm.Workload
	d.VM.Workload = docWorkload{Pattern: w.Pattern, DirtyRate: formatSize(w.DirtyRate) + "/s", ReadRate: formatSize(w.ReadRate) + "/s", Seed: w.Seed, HotFraction: w.HotFraction}
	if w.DirtyRate%1024 != 0 || w.DirtyRate == 0 {
		d.VM.Workload.DirtyRate = fmt.Sprint(w.DirtyRate)
	}
	if w.ReadRate%1024 != 0 || w.ReadRate == 0 {
		d.VM.Workload.ReadRate = fmt.Sprint(w.ReadRate)
	}
	c := p.Checkpoint
	d.Checkpoint = docCheckpoint{Dir: c.Dir, Method: c.Method, Live: c.Live, Incremental: c.Incremental, Replicas: c.Replicas, Redundancy: docParity(c.Parity), Keep: c.Keep}
	if c.Every > 0 {
		d.Checkpoint.Every = c.Every.String()
	}
	d.Checkpoint.Precopy = docPrecopy{MaxRounds: c.Precopy.MaxRounds, TargetPause: c.Precopy.TargetPause.String(), StopShrink: fmtPct(100*c.Precopy.StopShrink) + "%"}
	d.Restore = docRestorePol(p.Restore)
	for _, st := range p.Scenario {
		d.Scenario = append(d.Scenario, docStepOf(st))
	}
	return d
}

func docStepOf(st Step) docStep {
	var d docStep
	switch st.Kind {
	case StepRun:
		d.Run = st.Duration.String()
	case StepCheckpoint:
		c := st.Checkpoint
		d.Checkpoint = &docStepCheckpoint{Method: c.Method, Live: c.Live, Incremental: c.Incremental, Replicas: c.Replicas, Redundancy: docParity(c.Parity)}
	case StepRestore:
		d.Restore = &docStepRestore{From: st.Restore.From, Placement: st.Restore.Placement, Lazy: st.Restore.Lazy}
	case StepVerify:
		d.Verify = &docStepVerify{Checkpoint: st.VerifyCheckpoint}
	case StepPauseForReader:
		d.PauseForReader = st.Text
	case StepFault:
		m := orderedMap{{st.Fault.Action, st.Fault.Host}}
		if st.Fault.Action == FaultSlow {
			m = append(m, docShareItem{"rate", formatBitRate(st.Fault.Rate)})
		}
		d.Fault = &m
	}
	return d
}

// formatSize writes bytes in the largest binary unit that divides them
// exactly, so ParseSize gives the same number back.
func formatSize(n int64) string {
	for _, u := range []struct {
		div  int64
		name string
	}{{1 << 40, "TiB"}, {1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n != 0 && n%u.div == 0 {
			return fmt.Sprintf("%d%s", n/u.div, u.name)
		}
	}
	return fmt.Sprint(n)
}

// formatBitRate writes bits/s in tc's spelling, exactly.
func formatBitRate(n int64) string {
	for _, u := range []struct {
		div  int64
		name string
	}{{1e9, "gbit"}, {1e6, "mbit"}, {1e3, "kbit"}} {
		if n != 0 && n%u.div == 0 {
			return fmt.Sprintf("%d%s", n/u.div, u.name)
		}
	}
	return fmt.Sprint(n)
}

// formatFraction writes a share as a percentage that parses back to the
// very same fraction (the loader computes every share as P/100): the
// shortest decimal of f*100 usually does, and when rounding in *100 and
// /100 disagrees, a float a few ulps away does.
func formatFraction(f float64) string {
	pct := f * 100
	up, down := pct, pct
	for range 8 {
		for _, c := range []float64{up, down} {
			s := strconv.FormatFloat(c, 'f', -1, 64)
			if v, err := units.ParsePercent(s + "%"); err == nil && v/100 == f {
				return s + "%"
			}
		}
		up, down = math.Nextafter(up, math.Inf(1)), math.Nextafter(down, math.Inf(-1))
	}
	return strconv.FormatFloat(pct, 'f', -1, 64) + "%"
}
