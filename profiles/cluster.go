package profiles

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"dcres/internal/units"
)

// cluster reads lab or hosts, exactly one of which must be given. It reports
// whether the host names are known, so later sections can check against them.
func (p *parser) cluster(prof *Profile, root *yaml.Node, top map[string]field) bool {
	lab, hasLab := top["lab"]
	hosts, hasHosts := top["hosts"]
	switch {
	case hasLab && hasHosts:
		second := hosts
		if hosts.key.Line < lab.key.Line {
			second = lab
		}
		p.fail(second.key, second.key.Value, "lab (local agents) or hosts (SSH), not both", "both lab and hosts are given")
		return false
	case !hasLab && !hasHosts:
		p.fail(root, "", "lab: {hosts: 3} for local agents, or hosts: [...] for SSH hosts", "profile names no cluster")
		return false
	case hasLab:
		return p.lab(prof, lab.val)
	default:
		return p.hosts(prof, hosts.val)
	}
}

func (p *parser) lab(prof *Profile, n *yaml.Node) bool {
	prof.Lab = &Lab{Hosts: defaultLabHosts}
	f, ok := p.fields(n, "lab", "lab")
	if !ok {
		return false
	}
	good := true
	if h, ok := f["hosts"]; ok {
		v, ok := p.integer(h.val, "lab.hosts")
		switch {
		case !ok:
			good = false
		case v < 1 || v > maxHosts:
			p.fail(h.val, "lab.hosts", fmt.Sprintf("1 to %d", maxHosts), "lab of %d hosts", v)
			good = false
		default:
			prof.Lab.Hosts = int(v)
		}
	}
	if b, ok := f["netns"]; ok {
		prof.Lab.Netns, _ = p.boolean(b.val, "lab.netns")
	}
	if l, ok := f["link"]; ok {
		if lf, ok := p.fields(l.val, "lab.link", "lab.link"); ok {
			if r, ok := lf["rate"]; ok {
				if s, ok := p.str(r.val, "lab.link.rate"); ok {
					v, err := units.ParseBitRate(s)
					if err != nil {
						p.fail(r.val, "lab.link.rate", "", "%v; 0 leaves links unshaped", err)
					}
					prof.Lab.LinkRate = v
				}
			}
		}
	}
	return good
}

func (p *parser) hosts(prof *Profile, n *yaml.Node) bool {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, "hosts", "", "expected a list of hosts (- {name: main, address: ...}), found %s", describe(n))
		return false
	}
	if len(n.Content) < 1 || len(n.Content) > maxHosts {
		p.fail(n, "hosts", fmt.Sprintf("1 to %d hosts", maxHosts), "%d hosts given", len(n.Content))
		return false
	}
	good := true
	seen := map[string]int{}
	for i, item := range n.Content {
		path := fmt.Sprintf("hosts[%d]", i)
		f, ok := p.fields(item, path, "hosts[]")
		if !ok {
			good = false
			continue
		}
		h := Host{User: defaultUser, Data: defaultData, Command: defaultCommand}
		if nf, ok := f["name"]; !ok {
			p.fail(resolve(item), path, "", "host has no name")
			good = false
		} else if s, ok := p.str(nf.val, path+".name"); !ok {
			good = false
		} else if !hostName.MatchString(s) {
			p.fail(nf.val, path+".name", hostNameRule, "host name %q is not allowed", s)
			good = false
		} else if first, dup := seen[s]; dup {
			p.fail(nf.val, path+".name", "", "host name %q is already used by hosts[%d]", s, first)
			good = false
		} else {
			seen[s] = i
			h.Name = s
		}
		if af, ok := f["address"]; !ok {
			p.fail(resolve(item), path, "", "host has no address (host or host:port)")
		} else if s, ok := p.str(af.val, path+".address"); ok {
			a, err := normalizeAddress(s)
			if err != nil {
				p.fail(af.val, path+".address", "host, host:port or [ipv6]:port", "%v", err)
			}
			h.Address = a
		}
		for _, o := range []struct {
			key string
			dst *string
		}{{"user", &h.User}, {"key", &h.Key}, {"data", &h.Data}, {"command", &h.Command}} {
			key, dst := o.key, o.dst
			if kf, ok := f[key]; ok {
				if s, ok := p.str(kf.val, path+"."+key); ok {
					*dst = s
				}
			}
		}
		if kf, ok := f["data"]; ok && !strings.HasPrefix(h.Data, "/") && !strings.HasPrefix(h.Data, "~/") {
			p.fail(kf.val, path+".data", "an absolute path or one starting with ~/", "data directory %q is relative", h.Data)
		}
		prof.Hosts = append(prof.Hosts, h)
	}
	return good
}

// normalizeAddress adds the SSH port when it is missing.
func normalizeAddress(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("address is empty")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(s, ":") && net.ParseIP(s) == nil {
			return s, fmt.Errorf("address %q is not host:port", s)
		}
		return net.JoinHostPort(s, "22"), nil
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
		return s, fmt.Errorf("address %q needs a host and a port from 1 to 65535", s)
	}
	return s, nil
}
