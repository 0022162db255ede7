package profiles

import (
	"strings"

	"gopkg.in/yaml.v3"

	"dcres/internal/units"
)

// faultActions are the keys of a fault step that name the host to break.
var faultActions = []string{FaultKill, FaultCut, FaultRestoreLink, FaultSlow}

const faultRule = "{kill: HOST}, {cut: HOST}, {restore-link: HOST} or {slow: HOST, rate: 10mbit}"

// fault reads a fault step: exactly one action naming a host of the lab,
// and a rate with slow only. Faults act through the lab's hooks, so they
// need a lab profile, and link faults a netns lab (loopback agents share
// one link that cannot be cut or shaped per host).
func (p *parser) fault(fl *Fault, n *yaml.Node, path string, prof *Profile, hosts []string) {
	f, ok := p.fields(n, path, "scenario[].fault")
	if !ok {
		return
	}
	if len(f) == 0 {
		// An unknown key was reported already; an empty {} was not.
		if len(resolve(n).Content) == 0 {
			p.fail(resolve(n), path, faultRule, "fault names no action")
		}
		return
	}
	var action field
	var found []string
	for _, a := range faultActions {
		if af, ok := f[a]; ok {
			action, fl.Action = af, a
			found = append(found, a)
		}
	}
	switch len(found) {
	case 0:
		p.fail(resolve(n), path, faultRule, "fault names no action, only a rate")
		return
	case 1:
	default:
		p.fail(resolve(n), path, faultRule, "a fault does one thing, and this one has %s; put each on its own \"- fault:\" step", strings.Join(found, " and "))
		return
	}
	where := path + "." + fl.Action
	if prof.Lab == nil {
		p.fail(action.key, where, "fault steps in lab profiles only", "faults act on a local lab's agents, and this profile has real hosts")
		return
	}
	if s, ok := p.str(action.val, where); ok {
		switch {
		case !hostName.MatchString(s):
			p.fail(action.val, where, hostNameRule, "host name %q is not allowed", s)
		case hosts != nil && !contains(hosts, s):
			p.fail(action.val, where, "a host of this lab", "host %s is not in this lab: %s%s", s, strings.Join(hosts, ", "), suggest(s, hosts))
		default:
			fl.Host = s
		}
	}
	if fl.Action != FaultKill && !prof.Lab.Netns {
		p.fail(action.key, where, "kill in any lab; cut, restore-link and slow with lab.netns: true", "link faults need a netns lab (lab.netns: true): loopback agents share one link that cannot be cut or shaped per host")
	}
	rf, hasRate := f["rate"]
	switch {
	case fl.Action == FaultSlow && !hasRate:
		p.fail(resolve(n), path, "a bit rate such as 10mbit", "slow needs the link rate to shape to: {slow: %s, rate: 10mbit}", action.val.Value)
	case fl.Action != FaultSlow && hasRate:
		p.fail(rf.key, path+".rate", "rate with slow only", "%s takes no rate", fl.Action)
	case hasRate:
		if s, ok := p.str(rf.val, path+".rate"); ok {
			v, err := units.ParseBitRate(s)
			switch {
			case err != nil:
				p.fail(rf.val, path+".rate", "", "%v", err)
			case v <= 0:
				p.fail(rf.val, path+".rate", "a positive bit rate such as 10mbit", "slow to %s would stop the link; use cut for that", s)
			default:
				fl.Rate = v
			}
		}
	}
}
