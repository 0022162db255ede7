package lab

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestPlanNamesFitAndRoundTrip(t *testing.T) {
	id := labID("some/lab/dir", 0)
	if len(id) != idLen {
		t.Fatalf("id %q has length %d, want %d", id, len(id), idLen)
	}
	if labID("some/lab/dir", 0) != id || labID("some/lab/dir", 1) == id || labID("other", 0) == id {
		t.Fatalf("ids are not a stable function of dir and salt")
	}
	hosts := make([]string, 253)
	for i := range hosts {
		hosts[i] = "h" + strings.Repeat("x", i%3)
	}
	p := newPlan(id, "d", 7, hosts, 0)
	if err := p.validate(); err != nil {
		t.Fatal(err)
	}
	if p.bridgeIP() != "10.254.7.1" || p.Hosts[0].IP != "10.254.7.2" || p.Hosts[252].IP != "10.254.7.254" {
		t.Fatalf("addresses: bridge %s, first %s, last %s", p.bridgeIP(), p.Hosts[0].IP, p.Hosts[252].IP)
	}
	for _, name := range []string{p.Bridge, p.Hosts[0].NS, p.Hosts[0].VethBr, p.Hosts[252].VethNS} {
		if got := idOf(name); got != id {
			t.Errorf("idOf(%q) = %q, want %q", name, got, id)
		}
	}
	if err := newPlan(id, "d", 7, append(hosts, "one-too-many"), 0).validate(); err == nil {
		t.Errorf("a plan of 254 hosts validated")
	}
}

func TestIDOfIgnoresOtherNames(t *testing.T) {
	for _, name := range []string{"eth0", "dcres-", "dcres-abc", "dcres-ABCDEF-main", "dcres-abcdefmain", "dcrbr-abcdef0", "dcrbr-abcdeg", "dcvabcdefx0", "dcv", "docker0"} {
		if id := idOf(name); id != "" {
			t.Errorf("idOf(%q) = %q, want none", name, id)
		}
	}
}

func TestPickSubnetSkipsUsed(t *testing.T) {
	id := "0a1b2c"
	first := subnetFor(id)
	got, err := pickSubnet(id, map[int]bool{first: true, (first + 1) % 256: true})
	if err != nil || got != (first+2)%256 {
		t.Fatalf("pickSubnet = %d, %v; want %d", got, err, (first+2)%256)
	}
	all := map[int]bool{}
	for i := range 256 {
		all[i] = true
	}
	if _, err := pickSubnet(id, all); err == nil {
		t.Fatalf("pickSubnet found a subnet when all are used")
	}
}

func TestUsedSubnets(t *testing.T) {
	link := func(addrs ...string) ipLink {
		var l ipLink
		for i := 0; i < len(addrs); i += 2 {
			var prefix int
			for _, c := range addrs[i+1] {
				prefix = prefix*10 + int(c-'0')
			}
			l.Addrs = append(l.Addrs, struct {
				Family string `json:"family"`
				Local  string `json:"local"`
				Prefix int    `json:"prefixlen"`
			}{"inet", addrs[i], prefix})
		}
		return l
	}
	used := usedSubnets([]ipLink{link("10.254.9.1", "24", "192.168.1.2", "24"), link("10.254.20.5", "23"), link("10.253.0.1", "16")})
	want := map[int]bool{9: true, 20: true, 21: true}
	if !reflect.DeepEqual(used, want) {
		t.Fatalf("usedSubnets = %v, want %v", used, want)
	}
	if len(usedSubnets([]ipLink{link("10.0.0.1", "8")})) != 256 {
		t.Fatalf("a 10.0.0.0/8 address should collide with every lab subnet")
	}
}

func TestTbfBurst(t *testing.T) {
	got := strings.Join(tbfArgs(1_000_000_000), " ")
	if got != "tbf rate 1000000000bit burst 125000 latency 10ms" {
		t.Errorf("1 Gbit/s: %s", got)
	}
	if got := tbfArgs(200_000_000)[4]; got != "65536" {
		t.Errorf("200 Mbit/s burst %s, want the 64 KiB floor", got)
	}
}

func TestProcStartNamesThisProcess(t *testing.T) {
	p := &netnsPlan{Owner: 1 << 30}
	if ownerAlive(p) {
		t.Fatalf("a pid that cannot exist counts as alive")
	}
	self, err := procStart(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	p = &netnsPlan{Owner: os.Getpid(), OwnerStart: self}
	if !ownerAlive(p) {
		t.Fatalf("this process does not count as alive")
	}
	p.OwnerStart++
	if ownerAlive(p) {
		t.Fatalf("a reused pid (other start time) counts as alive")
	}
}
