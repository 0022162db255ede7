package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"time"
)

// ipTimeout bounds one ip or tc command: they never take long unless the
// kernel is stuck, and then the lab should say so rather than hang.
const ipTimeout = 10 * time.Second

// run runs an iproute2 command and returns its output, or an error that
// quotes the command and what it printed.
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, ipTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// gone reports whether err says the object to delete did not exist.
func gone(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "Cannot find device") || strings.Contains(s, "does not exist") ||
		strings.Contains(s, "No such file") || strings.Contains(s, "No such device")
}

// setupNetns creates p's bridge, namespaces and shaped links. On error
// what exists is left for the caller's teardown.
func setupNetns(ctx context.Context, p *netnsPlan) error {
	steps := [][]string{
		{"ip", "link", "add", p.Bridge, "type", "bridge"},
		{"ip", "addr", "add", p.bridgeIP() + "/24", "dev", p.Bridge},
		{"ip", "link", "set", p.Bridge, "up"},
	}
	for _, h := range p.Hosts {
		steps = append(steps,
			[]string{"ip", "netns", "add", h.NS},
			[]string{"ip", "-n", h.NS, "link", "set", "lo", "up"},
			[]string{"ip", "link", "add", h.VethBr, "type", "veth", "peer", "name", h.VethNS, "netns", h.NS},
			[]string{"ip", "link", "set", h.VethBr, "master", p.Bridge, "up"},
			[]string{"ip", "-n", h.NS, "addr", "add", h.IP + "/24", "dev", h.VethNS},
			[]string{"ip", "-n", h.NS, "link", "set", h.VethNS, "up"},
		)
	}
	for _, s := range steps {
		if _, err := run(ctx, s[0], s[1:]...); err != nil {
			return fmt.Errorf("setting up the netns lab: %w", err)
		}
	}
	for _, h := range p.Hosts {
		if err := shape(ctx, h, p.LinkRate); err != nil {
			return err
		}
	}
	return nil
}

// shape sets (rate > 0) or removes (rate == 0) the tbf on both ends of h's
// link: the namespace end shapes what the agent sends, the bridge end
// what it receives.
func shape(ctx context.Context, h netnsHost, rate int64) error {
	ends := [][]string{{"-n", h.NS, "qdisc"}, {"qdisc"}}
	devs := []string{h.VethNS, h.VethBr}
	for i, e := range ends {
		var args []string
		if rate > 0 {
			args = append(append(append([]string{}, e...), "replace", "dev", devs[i], "root"), tbfArgs(rate)...)
		} else {
			args = append(append([]string{}, e...), "del", "dev", devs[i], "root")
		}
		if _, err := run(ctx, "tc", args...); err != nil {
			if rate == 0 && strings.Contains(err.Error(), "handle of zero") {
				continue // nothing to remove
			}
			return fmt.Errorf("shaping the link of host %s: %w", h.Name, err)
		}
	}
	return nil
}

// teardownNetns removes everything p names that still exists. Deleting a
// namespace with no process left in it destroys its veth pair; the bridge
// ends are deleted too in case a process kept the namespace alive.
func teardownNetns(ctx context.Context, p *netnsPlan) error {
	var errs []error
	for _, h := range p.Hosts {
		if _, err := run(ctx, "ip", "netns", "del", h.NS); err != nil && !gone(err) {
			errs = append(errs, err)
		}
		if _, err := run(ctx, "ip", "link", "del", h.VethBr); err != nil && !gone(err) {
			errs = append(errs, err)
		}
	}
	if _, err := run(ctx, "ip", "link", "del", p.Bridge); err != nil && !gone(err) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// listNamespaces lists the names of network namespaces (ip netns list).
func listNamespaces(ctx context.Context) ([]string, error) {
	out, err := run(ctx, "ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

type ipLink struct {
	Name  string `json:"ifname"`
	Addrs []struct {
		Family string `json:"family"`
		Local  string `json:"local"`
		Prefix int    `json:"prefixlen"`
	} `json:"addr_info"`
}

// listLinks lists the root namespace's interfaces with their addresses.
func listLinks(ctx context.Context) ([]ipLink, error) {
	out, err := run(ctx, "ip", "-j", "addr", "show")
	if err != nil {
		return nil, err
	}
	var links []ipLink
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("ip -j addr show: %w", err)
	}
	return links, nil
}

// usedSubnets are the third octets of 10.254.x.0/24 networks that an
// interface's address overlaps.
func usedSubnets(links []ipLink) map[int]bool {
	used := map[int]bool{}
	_, lab16, _ := net.ParseCIDR("10.254.0.0/16")
	for _, l := range links {
		for _, a := range l.Addrs {
			if a.Family != "inet" {
				continue
			}
			ip := net.ParseIP(a.Local).To4()
			if ip == nil {
				continue
			}
			_, n, err := net.ParseCIDR(fmt.Sprintf("%s/%d", a.Local, a.Prefix))
			if err != nil {
				continue
			}
			switch {
			case lab16.Contains(ip) && a.Prefix >= 16:
				// Inside the lab range: the /24s it covers.
				ones, _ := n.Mask.Size()
				if ones >= 24 {
					used[int(ip[2])] = true
				} else {
					span := 1 << (24 - ones)
					base := int(n.IP.To4()[2])
					for i := range span {
						used[base+i] = true
					}
				}
			case n.Contains(lab16.IP):
				// A wider network holding all of 10.254/16: every /24 collides.
				for i := range 256 {
					used[i] = true
				}
			}
		}
	}
	return used
}
