package lab

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strconv"
)

// Names and addresses of a netns lab. Interface names are limited to 15
// bytes by the kernel, so everything is keyed by a short id: a hash of the
// lab directory, so that the same directory gets the same names and stale
// leftovers of a crashed lab in that directory are easy to recognise.
const (
	nsPrefix     = "dcres-"
	bridgePrefix = "dcrbr-"
	vethPrefix   = "dcv"
	idLen        = 6 // hex digits
	agentPort    = "2222"
)

// netnsPlan is everything a netns lab creates, written as its record
// before the first object exists so that a crash at any point leaves a
// record saying whose the leftovers are.
type netnsPlan struct {
	ID     string `json:"id"`
	Dir    string `json:"dir"`
	Bridge string `json:"bridge"`
	// Subnet is the third octet of 10.254.Subnet.0/24.
	Subnet   int         `json:"subnet"`
	LinkRate int64       `json:"link_rate"`
	Hosts    []netnsHost `json:"hosts"`
	// Owner is the pid of the process that made the lab, and OwnerStart
	// its start time (clock ticks since boot), so a reused pid is not
	// mistaken for a live owner.
	Owner      int    `json:"owner"`
	OwnerStart uint64 `json:"owner_start"`
}

// netnsHost is one agent's namespace and link.
type netnsHost struct {
	Name   string `json:"name"`
	NS     string `json:"ns"`
	VethNS string `json:"veth_ns"` // the end inside NS
	VethBr string `json:"veth_br"` // the end on the bridge, in the root namespace
	IP     string `json:"ip"`
}

// labID is the short id of a lab in dir; salt > 0 picks another id when
// the first collides with a live lab of another directory.
func labID(dir string, salt int) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	in := abs
	if salt > 0 {
		in += "#" + strconv.Itoa(salt)
	}
	sum := sha256.Sum256([]byte(in))
	return hex.EncodeToString(sum[:])[:idLen]
}

// subnetFor is the preferred third octet for id: derived from the id, so
// a lab's addresses stay the same from run to run.
func subnetFor(id string) int {
	sum := sha256.Sum256([]byte("subnet:" + id))
	return int(sum[0])
}

// pickSubnet returns the first free third octet from id's preferred one
// on, skipping those in use (by an existing interface's address or by
// another lab's record).
func pickSubnet(id string, used map[int]bool) (int, error) {
	first := subnetFor(id)
	for i := range 256 {
		s := (first + i) % 256
		if !used[s] {
			return s, nil
		}
	}
	return 0, fmt.Errorf("every /24 of 10.254.0.0/16 is in use by interfaces or other labs: remove stale labs (ip netns list) and retry")
}

// newPlan names every object of a lab with id over hosts.
func newPlan(id, dir string, subnet int, hosts []string, rate int64) *netnsPlan {
	p := &netnsPlan{ID: id, Dir: dir, Bridge: bridgePrefix + id, Subnet: subnet, LinkRate: rate}
	for i, h := range hosts {
		p.Hosts = append(p.Hosts, netnsHost{
			Name:   h,
			NS:     nsPrefix + id + "-" + h,
			VethNS: fmt.Sprintf("%s%sn%d", vethPrefix, id, i),
			VethBr: fmt.Sprintf("%s%sb%d", vethPrefix, id, i),
			IP:     fmt.Sprintf("10.254.%d.%d", subnet, i+2),
		})
	}
	return p
}

// BridgeIP is the root namespace's address on the lab bridge.
func (p *netnsPlan) bridgeIP() string { return fmt.Sprintf("10.254.%d.1", p.Subnet) }

func (p *netnsPlan) host(name string) (*netnsHost, error) {
	for i := range p.Hosts {
		if p.Hosts[i].Name == name {
			return &p.Hosts[i], nil
		}
	}
	return nil, fmt.Errorf("host %s is not part of this lab", name)
}

// validate checks the names fit the kernel's limits (a lab of more than
// 100000 hosts would not).
func (p *netnsPlan) validate() error {
	if len(p.Bridge) > 15 {
		return fmt.Errorf("bridge name %s is longer than 15 bytes", p.Bridge)
	}
	if len(p.Hosts) > 253 {
		return fmt.Errorf("a netns lab holds at most 253 hosts on its /24, not %d", len(p.Hosts))
	}
	for _, h := range p.Hosts {
		if len(h.VethNS) > 15 || len(h.VethBr) > 15 {
			return fmt.Errorf("veth name %s is longer than 15 bytes", h.VethBr)
		}
	}
	return nil
}

// idOf extracts the lab id from one of the names a lab creates, or "" if
// name is not one of ours.
func idOf(name string) string {
	var rest string
	switch {
	case len(name) > len(nsPrefix) && name[:len(nsPrefix)] == nsPrefix:
		rest = name[len(nsPrefix):]
		if len(rest) < idLen+2 || rest[idLen] != '-' {
			return ""
		}
	case len(name) > len(bridgePrefix) && name[:len(bridgePrefix)] == bridgePrefix:
		rest = name[len(bridgePrefix):]
		if len(rest) != idLen {
			return ""
		}
	case len(name) > len(vethPrefix) && name[:len(vethPrefix)] == vethPrefix:
		rest = name[len(vethPrefix):]
		if len(rest) < idLen+2 || (rest[idLen] != 'b' && rest[idLen] != 'n') {
			return ""
		}
	default:
		return ""
	}
	id := rest[:idLen]
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return ""
		}
	}
	return id
}

// tbfArgs are the tc arguments that shape a link to rate bits/s. The
// burst is about 1 ms of traffic, but at least 64 KiB so that one GSO
// packet passes whole; 10 ms of queue keeps TCP busy without bufferbloat.
func tbfArgs(rate int64) []string {
	burst := rate / 8 / 1000
	if burst < 64<<10 {
		burst = 64 << 10
	}
	return []string{"tbf", "rate", strconv.FormatInt(rate, 10) + "bit", "burst", strconv.FormatInt(burst, 10), "latency", "10ms"}
}
