package profiles

import (
	"fmt"
	"math"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"dcres/api"
	"dcres/internal/units"
)

const memoryRule = "a size from 16MiB to 64GiB in whole 4 KiB pages, e.g. 512MiB"

// vm reads the vm section. hosts is nil when the cluster had errors; the
// split is then only checked for form.
func (p *parser) vm(vm *VM, n *yaml.Node, hosts []string) {
	*vm = VM{Name: defaultVMName, Driver: defaultDriver, CPUs: defaultCPUs}
	vm.Workload = Workload{Pattern: defaultPattern, DirtyRate: defaultDirtyRate, ReadRate: defaultReadRate, Seed: defaultSeed, HotFraction: defaultHotFrac}
	f, ok := p.fields(n, "vm", "vm")
	if !ok {
		return
	}
	if nf, ok := f["name"]; ok {
		if s, ok := p.str(nf.val, "vm.name"); ok {
			// The VM name becomes part of checkpoint paths on every host.
			if !hostName.MatchString(s) {
				p.fail(nf.val, "vm.name", hostNameRule, "VM name %q is not allowed", s)
			}
			vm.Name = s
		}
	}
	if df, ok := f["driver"]; ok {
		if s, ok := p.str(df.val, "vm.driver"); ok {
			if !contains(drivers, s) {
				p.fail(df.val, "vm.driver", strings.Join(drivers, ", "), "unknown driver %q%s", s, suggest(s, drivers))
			}
			vm.Driver = s
		}
	}
	memOK := false
	if mf, ok := f["memory"]; !ok {
		p.fail(resolve(n), "vm", memoryRule, "vm has no memory")
	} else if s, ok := p.str(mf.val, "vm.memory"); ok {
		v, err := units.ParseSize(s)
		switch {
		case err != nil:
			p.fail(mf.val, "vm.memory", "", "%v", err)
		case v%api.PageSize != 0:
			p.fail(mf.val, "vm.memory", memoryRule, "memory %s is not a multiple of 4 KiB", s)
		case v < minMemory || v > maxMemory:
			p.fail(mf.val, "vm.memory", memoryRule, "memory %s (%s) is out of range", s, units.FormatBytes(v))
		default:
			vm.MemoryBytes, memOK = v, true
		}
	}
	if cf, ok := f["cpus"]; ok {
		if v, ok := p.integer(cf.val, "vm.cpus"); ok {
			switch {
			case v < 1 || v > maxCPUs:
				p.fail(cf.val, "vm.cpus", fmt.Sprintf("1 to %d", maxCPUs), "%d CPUs", v)
			case vm.Driver != "qemu" && v != 1:
				p.fail(cf.val, "vm.cpus", "cpus only with driver qemu", "the %s driver runs one CPU", vm.Driver)
			default:
				vm.CPUs = int(v)
			}
		}
	}
	if sf, ok := f["split"]; ok {
		vm.Split = p.split(sf.val, hosts, vm.MemoryBytes, memOK)
	} else {
		vm.Split = evenSplit(hosts)
	}
	vm.CacheBytes = roundPage(vm.MemoryBytes * defaultCachePct / 100)
	if cf, ok := f["cache"]; ok {
		vm.CacheBytes = p.cache(cf.val, vm.MemoryBytes, memOK)
	}
	if wf, ok := f["workload"]; ok {
		p.workload(&vm.Workload, wf.val)
	}
}

func roundPage(n int64) int64 { return n / api.PageSize * api.PageSize }

// evenSplit gives every host the same share. It is computed as a
// percentage over 100, as a written split is, so that `dcres profile show`
// can write it as a percentage that loads back to the very same share.
func evenSplit(hosts []string) []Share {
	out := make([]Share, len(hosts))
	for i, h := range hosts {
		out[i] = Share{Host: h, Fraction: 100 / float64(len(hosts)) / 100}
	}
	return out
}

// split reads an ordered mapping host: share, where the shares are all
// percentages summing to 100% or all sizes summing to the memory.
func (p *parser) split(n *yaml.Node, hosts []string, memory int64, memOK bool) []Share {
	es, ok := p.entries(n, "vm.split")
	if !ok {
		return nil
	}
	if len(es) == 0 {
		p.fail(resolve(n), "vm.split", "host: share for every host, e.g. {main: 50%, sub1: 50%}", "split is empty")
		return nil
	}
	var shares []Share
	var byteShares []int64 // parallel to shares when they are sizes
	var pctSum float64
	var sizeSum int64
	pct, sizes := 0, 0
	good := true
	for i, e := range es {
		name := e.key.Value
		path := "vm.split." + name
		if hosts != nil && !contains(hosts, name) {
			p.fail(e.key, path, strings.Join(hosts, ", "), "split names unknown host %q%s", name, suggest(name, hosts))
			good = false
		} else if i == 0 && hosts != nil && name != hosts[0] {
			p.fail(e.key, path, "", "split must list the main host %q first, found %q", hosts[0], name)
			good = false
		}
		s, ok := p.str(e.val, path)
		if !ok {
			good = false
			continue
		}
		if strings.HasSuffix(strings.TrimSpace(s), "%") {
			v, err := units.ParsePercent(s)
			if err != nil {
				p.fail(e.val, path, "", "%v", err)
				good = false
				continue
			}
			pct++
			pctSum += v
			shares = append(shares, Share{Host: name, Fraction: v / 100})
			continue
		}
		v, err := units.ParseSize(s)
		if err != nil {
			p.fail(e.val, path, "a percentage (25%) or a size (128MiB)", "%v", err)
			good = false
			continue
		}
		if v%api.PageSize != 0 {
			p.fail(e.val, path, "sizes in whole 4 KiB pages", "share %s is not a multiple of 4 KiB", s)
			good = false
		}
		sizes++
		sizeSum += v
		shares = append(shares, Share{Host: name})
		byteShares = append(byteShares, v)
	}
	if hosts != nil {
		var missing []string
		for _, h := range hosts {
			if !containsShare(es, h) {
				missing = append(missing, h)
			}
		}
		if len(missing) > 0 {
			p.fail(resolve(n), "vm.split", "every host of the cluster: "+strings.Join(hosts, ", "), "split lacks host %s", strings.Join(missing, ", "))
			good = false
		}
	}
	if !good {
		return nil
	}
	switch {
	case pct > 0 && sizes > 0:
		p.fail(resolve(n), "vm.split", "all percentages or all sizes", "split mixes percentages and sizes")
		return nil
	case pct > 0 && math.Abs(pctSum-100) > 1e-6:
		p.fail(resolve(n), "vm.split", "shares that sum to 100%", "shares sum to %s%%, not 100%%", fmtPct(pctSum))
		return nil
	case sizes > 0 && memOK && sizeSum != memory:
		p.fail(resolve(n), "vm.split", "sizes that sum to vm.memory", "sizes sum to %s, not the memory %s", units.FormatBytes(sizeSum), units.FormatBytes(memory))
		return nil
	case sizes > 0 && memOK:
		for i := range shares {
			shares[i].Fraction = float64(byteShares[i]) / float64(memory)
		}
	}
	return shares
}

func containsShare(es []field, host string) bool {
	for _, e := range es {
		if e.key.Value == host {
			return true
		}
	}
	return false
}

// cache reads a share of memory or a size, rounded down to whole pages.
func (p *parser) cache(n *yaml.Node, memory int64, memOK bool) int64 {
	const rule = "a percentage of vm.memory (10%) or a size (64MiB), at least 4 KiB and at most the memory"
	s, ok := p.str(n, "vm.cache")
	if !ok {
		return 0
	}
	var v int64
	if strings.HasSuffix(strings.TrimSpace(s), "%") {
		pct, err := units.ParsePercent(s)
		if err != nil {
			p.fail(n, "vm.cache", rule, "%v", err)
			return 0
		}
		v = roundPage(int64(float64(memory) * pct / 100))
	} else {
		var err error
		if v, err = units.ParseSize(s); err != nil {
			p.fail(n, "vm.cache", rule, "%v", err)
			return 0
		}
		if v%api.PageSize != 0 {
			p.fail(n, "vm.cache", rule, "cache %s is not a multiple of 4 KiB", s)
			return 0
		}
	}
	if memOK && (v < api.PageSize || v > memory) {
		p.fail(n, "vm.cache", rule, "cache %s is %s", s, units.FormatBytes(v))
		return 0
	}
	return v
}

func (p *parser) workload(w *Workload, n *yaml.Node) {
	f, ok := p.fields(n, "vm.workload", "vm.workload")
	if !ok {
		return
	}
	if pf, ok := f["pattern"]; ok {
		if s, ok := p.str(pf.val, "vm.workload.pattern"); ok {
			if !contains(patterns, s) {
				p.fail(pf.val, "vm.workload.pattern", strings.Join(patterns, ", "), "unknown pattern %q%s", s, suggest(s, patterns))
			}
			w.Pattern = s
		}
	}
	for _, r := range []struct {
		key string
		dst *int64
	}{{"dirty_rate", &w.DirtyRate}, {"read_rate", &w.ReadRate}} {
		if rf, ok := f[r.key]; ok {
			path := "vm.workload." + r.key
			if s, ok := p.str(rf.val, path); ok {
				v, err := units.ParseRate(s)
				if err != nil {
					p.fail(rf.val, path, "", "%v", err)
				}
				*r.dst = v
			}
		}
	}
	if sf, ok := f["seed"]; ok {
		w.Seed, _ = p.integer(sf.val, "vm.workload.seed")
	}
	if hf, ok := f["hot_fraction"]; ok {
		w.HotFraction = p.fraction(hf.val, "vm.workload.hot_fraction")
	}
}

// fraction reads a number in (0, 1] or a percentage above 0%.
func (p *parser) fraction(n *yaml.Node, path string) float64 {
	const rule = "a number above 0 and at most 1 (0.1), or a percentage (10%)"
	s, ok := p.str(n, path)
	if !ok {
		return 0
	}
	var v float64
	if strings.HasSuffix(strings.TrimSpace(s), "%") {
		pct, err := units.ParsePercent(s)
		if err != nil {
			p.fail(n, path, rule, "%v", err)
			return 0
		}
		v = pct / 100
	} else if t := n.ShortTag(); t != "!!float" && t != "!!int" || n.Decode(&v) != nil {
		p.fail(n, path, rule, "%q is not a number", s)
		return 0
	}
	if !(v > 0 && v <= 1) {
		p.fail(n, path, rule, "%s is out of range", s)
		return 0
	}
	return v
}

func (p *parser) checkpointPolicy(c *CheckpointPolicy, f field, driver string) {
	*c = CheckpointPolicy{Method: defaultMethod, Precopy: DefaultPrecopy}
	if f.val == nil {
		return
	}
	cf, ok := p.fields(f.val, "checkpoint", "checkpoint")
	if !ok {
		return
	}
	if pf, ok := cf["precopy"]; ok {
		p.precopy(&c.Precopy, pf)
	}
	if df, ok := cf["dir"]; ok {
		if s, ok := p.str(df.val, "checkpoint.dir"); ok {
			c.Dir = s
		}
	}
	if ef, ok := cf["every"]; ok {
		if s, ok := p.str(ef.val, "checkpoint.every"); ok {
			d, err := time.ParseDuration(strings.TrimSpace(s))
			if err != nil || d < time.Second {
				p.fail(ef.val, "checkpoint.every", "a duration of at least 1s, such as 30s or 5m", "%q is not such a duration", s)
			}
			c.Every = d
		}
	}
	if kf, ok := cf["keep"]; ok {
		if n, ok := p.integer(kf.val, "checkpoint.keep"); ok {
			if n < 1 || n > 10000 {
				p.fail(kf.val, "checkpoint.keep", "1 or more", "keep %d checkpoints", n)
			}
			c.Keep = int(n)
		}
	}
	req := api.CheckpointRequest{Method: c.Method}
	p.checkpointFields(&req, cf, "checkpoint", driver)
	c.Method, c.Live, c.Incremental, c.Replicas, c.Parity = req.Method, req.Live, req.Incremental, req.Replicas, req.Parity
}

// precopy reads checkpoint.precopy over the defaults in pc.
func (p *parser) precopy(pc *Precopy, f field) {
	const path = "checkpoint.precopy"
	pf, ok := p.fields(f.val, path, path)
	if !ok {
		return
	}
	if rf, ok := pf["max_rounds"]; ok {
		if n, ok := p.integer(rf.val, path+".max_rounds"); ok {
			if n < 1 || n > 100 {
				p.fail(rf.val, path+".max_rounds", "1 to 100", "%d rounds", n)
			}
			pc.MaxRounds = int(n)
		}
	}
	if tf, ok := pf["target_pause"]; ok {
		if s, ok := p.str(tf.val, path+".target_pause"); ok {
			d, err := time.ParseDuration(strings.TrimSpace(s))
			if err != nil || d <= 0 || d > time.Minute {
				p.fail(tf.val, path+".target_pause", "a duration above 0 and at most 1m, such as 50ms", "%q is not such a duration", s)
			}
			pc.TargetPause = d
		}
	}
	if sf, ok := pf["stop_shrink"]; ok {
		pc.StopShrink = p.fraction(sf.val, path+".stop_shrink")
	}
}

// checkpointFields reads method, live, incremental and replicas over the defaults in req.
func (p *parser) checkpointFields(req *api.CheckpointRequest, f map[string]field, path, driver string) {
	if mf, ok := f["method"]; ok {
		if s, ok := p.str(mf.val, path+".method"); ok {
			switch {
			case !contains(methods, s):
				p.fail(mf.val, path+".method", strings.Join(methods, ", "), "unknown method %q%s", s, suggest(s, methods))
			case s == "qemu-stream" && driver != "qemu":
				p.fail(mf.val, path+".method", "dcres, traditional", "method qemu-stream needs driver qemu, and vm.driver is %s", driver)
			}
			req.Method = s
		}
	}
	if lf, ok := f["live"]; ok {
		req.Live, _ = p.boolean(lf.val, path+".live")
	}
	if inf, ok := f["incremental"]; ok {
		req.Incremental, _ = p.boolean(inf.val, path+".incremental")
	}
	count := func(f field, path, what string) (int, bool) {
		n, ok := p.integer(f.val, path)
		if ok && (n < 0 || n > 15) {
			p.fail(f.val, path, "0 to the number of hosts less one", "%d %s", n, what)
			return 0, false
		}
		return int(n), ok
	}
	rf, hasReplicas := f["replicas"]
	if hasReplicas {
		if n, ok := count(rf, path+".replicas", "replicas"); ok {
			req.Replicas = n
		}
	}
	if df, ok := f["redundancy"]; ok {
		section := "scenario[].checkpoint.redundancy"
		if path == "checkpoint" {
			section = "checkpoint.redundancy"
		}
		rpath := path + ".redundancy"
		if rd, ok := p.fields(df.val, rpath, section); ok {
			if nf, ok := rd["replicas"]; ok {
				if n, ok := count(nf, rpath+".replicas", "replicas"); ok {
					if hasReplicas && n != req.Replicas {
						p.fail(nf.val, rpath+".replicas", "the same number as "+path+".replicas, or only one of the two", "%d replicas here, %d in %s.replicas", n, req.Replicas, path)
					}
					req.Replicas = n
				}
			}
			if pf, ok := rd["parity"]; ok {
				if n, ok := count(pf, rpath+".parity", "parity shards"); ok {
					req.Parity = n
				}
			}
			if req.Replicas > 0 && req.Parity > 0 {
				p.fail(df.val, rpath, "replicas or parity, not both", "%d replicas and %d parity shards", req.Replicas, req.Parity)
			}
		}
	}
	if req.Parity > 0 && req.Method != "dcres" {
		if df, ok := f["redundancy"]; ok {
			p.fail(df.val, path+".redundancy.parity", "method dcres (parity protects several hosts' files)", "parity with method %s", req.Method)
		} else {
			req.Parity = 0 // the default's parity is for dcres checkpoints
		}
	}
}

func fmtPct(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.6f", v), "0"), ".")
}
