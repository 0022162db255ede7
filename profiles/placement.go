package profiles

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"dcres/internal/units"
)

const placementRule = "same, single:HOST, or HOST=P%,HOST=P% with shares summing to 100%"

// ParsePlacement validates a placement as typed on the command line and
// returns it normalized: "same", "single:main" or "main=40%,sub1=60%" (in
// the order given). It checks the form only; Profile.CheckPlacement checks
// the host names against a cluster.
func ParsePlacement(s string) (string, error) {
	t := strings.TrimSpace(s)
	if t == "same" {
		return t, nil
	}
	if h, ok := strings.CutPrefix(t, "single:"); ok {
		h = strings.TrimSpace(h)
		if !hostName.MatchString(h) {
			return "", fmt.Errorf("placement %q: host name %q is not allowed (%s); allowed: %s", s, h, hostNameRule, placementRule)
		}
		return "single:" + h, nil
	}
	if !strings.Contains(t, "=") {
		return "", fmt.Errorf("placement %q is not understood; allowed: %s", s, placementRule)
	}
	var shares []pctShare
	for _, part := range strings.Split(t, ",") {
		h, v, ok := strings.Cut(part, "=")
		h = strings.TrimSpace(h)
		if !ok {
			return "", fmt.Errorf("placement %q: %q is not HOST=P%%; allowed: %s", s, part, placementRule)
		}
		if !hostName.MatchString(h) {
			return "", fmt.Errorf("placement %q: host name %q is not allowed (%s); allowed: %s", s, h, hostNameRule, placementRule)
		}
		pct, err := units.ParsePercent(v)
		if err != nil {
			return "", fmt.Errorf("placement %q: host %s: %v", s, h, err)
		}
		shares = append(shares, pctShare{h, pct})
	}
	norm, err := normalizeShares(shares)
	if err != nil {
		return "", fmt.Errorf("placement %q: %v; allowed: %s", s, err, placementRule)
	}
	return norm, nil
}

type pctShare struct {
	host string
	pct  float64
}

// normalizeShares refuses duplicate hosts and sums other than 100%.
func normalizeShares(shares []pctShare) (string, error) {
	seen := map[string]bool{}
	var sum float64
	parts := make([]string, len(shares))
	for i, sh := range shares {
		if seen[sh.host] {
			return "", fmt.Errorf("host %s is named twice", sh.host)
		}
		seen[sh.host] = true
		sum += sh.pct
		parts[i] = sh.host + "=" + strconv.FormatFloat(sh.pct, 'f', -1, 64) + "%"
	}
	if math.Abs(sum-100) > 1e-6 {
		return "", fmt.Errorf("shares sum to %s%%, not 100%%", fmtPct(sum))
	}
	return strings.Join(parts, ","), nil
}

// placementHosts lists the hosts a normalized placement names.
func placementHosts(norm string) []string {
	if norm == "same" {
		return nil
	}
	if h, ok := strings.CutPrefix(norm, "single:"); ok {
		return []string{h}
	}
	var hosts []string
	for _, part := range strings.Split(norm, ",") {
		h, _, _ := strings.Cut(part, "=")
		hosts = append(hosts, h)
	}
	return hosts
}

// CheckPlacement checks that a normalized placement (from ParsePlacement)
// names only hosts of this profile's cluster.
func (p *Profile) CheckPlacement(norm string) error {
	names := p.HostNames()
	for _, h := range placementHosts(norm) {
		if !contains(names, h) {
			return fmt.Errorf("placement %q names host %q, which is not in profile %s%s; allowed: %s", norm, h, p.Name, suggest(h, names), strings.Join(names, ", "))
		}
	}
	return nil
}

// placement reads a placement from YAML: a scalar in ParsePlacement's form,
// {single: HOST} or {hosts: {HOST: P%, ...}}. hosts is nil when the cluster
// is unknown; then names are checked for form only.
func (p *parser) placement(n *yaml.Node, path string, hosts []string) (string, bool) {
	n = resolve(n)
	known := func(at *yaml.Node, h, where string) bool {
		if hosts != nil && !contains(hosts, h) {
			p.fail(at, where, strings.Join(hosts, ", "), "placement names unknown host %q%s", h, suggest(h, hosts))
			return false
		}
		return true
	}
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		norm, err := ParsePlacement(n.Value)
		if err != nil {
			p.fail(n, path, "", "%v", err)
			return "", false
		}
		for _, h := range placementHosts(norm) {
			if !known(n, h, path) {
				return "", false
			}
		}
		return norm, true
	}
	f, ok := p.fields(n, path, "restore.placement")
	if !ok {
		return "", false
	}
	single, hasSingle := f["single"]
	multi, hasMulti := f["hosts"]
	switch {
	case hasSingle == hasMulti:
		p.fail(n, path, placementRule, "give exactly one of single and hosts")
		return "", false
	case hasSingle:
		s, ok := p.str(single.val, path+".single")
		if !ok {
			return "", false
		}
		if !hostName.MatchString(s) {
			p.fail(single.val, path+".single", hostNameRule, "host name %q is not allowed", s)
			return "", false
		}
		if !known(single.val, s, path+".single") {
			return "", false
		}
		return "single:" + s, true
	}
	es, ok := p.entries(multi.val, path+".hosts")
	if !ok {
		return "", false
	}
	var shares []pctShare
	good := true
	for _, e := range es {
		where := path + ".hosts." + e.key.Value
		if !hostName.MatchString(e.key.Value) {
			p.fail(e.key, where, hostNameRule, "host name %q is not allowed", e.key.Value)
			good = false
			continue
		}
		if !known(e.key, e.key.Value, where) {
			good = false
			continue
		}
		s, ok := p.str(e.val, where)
		if !ok {
			good = false
			continue
		}
		pct, err := units.ParsePercent(s)
		if err != nil {
			p.fail(e.val, where, "", "%v", err)
			good = false
			continue
		}
		shares = append(shares, pctShare{e.key.Value, pct})
	}
	if !good {
		return "", false
	}
	if len(shares) == 0 {
		p.fail(multi.val, path+".hosts", "HOST: P% for each target host", "placement names no hosts")
		return "", false
	}
	norm, err := normalizeShares(shares)
	if err != nil {
		p.fail(multi.val, path+".hosts", "shares summing to 100%", "%v", err)
		return "", false
	}
	return norm, true
}
