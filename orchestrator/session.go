package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sync/errgroup"

	"dcres/agentrpc"
	"dcres/api"
	"dcres/pager"
	"dcres/profiles"
)

// Config is what a Session needs to reach its hosts.
type Config struct {
	Profile *profiles.Profile
	Hosts   []HostSpec
	Signers []ssh.Signer
	HostKey ssh.HostKeyCallback
	// LinkRate is the hosts' link rate in bits/s (0: unknown), for plans.
	LinkRate int64
	// CallTimeout bounds every control call that has no longer deadline of
	// its own (0: 60 s); fault tests shorten it.
	CallTimeout time.Duration
	Logf        func(format string, args ...any)
}

// Session coordinates one VM over its hosts' agents.
type Session struct {
	cfg   Config
	prof  *profiles.Profile
	hosts map[string]*hostConn
	order []string // host names as in the profile, main first
	bus   *bus

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// op serializes operations (checkpoint, restore, verify): one at a time.
	op sync.Mutex

	mu     sync.Mutex
	layout layout
	stats  map[string]api.HostStats
	guest  *api.GuestStatus
	last   map[string]string // last checkpoint id by method, and "" for any
	seq    int
	// lastCut is the checkpoint whose cut the hosts' written-since marks
	// start from: the last one committed, or restored.
	lastCut string
	// have records, per checkpoint, which hosts have it, and damaged which
	// hosts hold a manifest of it they cannot read (see manifests).
	have    map[string]map[string]bool
	damaged map[string][]string
}

// layout is where the VM's pages live now.
type layout struct {
	vm          string
	main        string
	hosts       []string // location table host order
	locations   []api.Range
	incarnation uint64
	nodes       []uint64 // qemu: NUMA node sizes in pages
}

// Connect dials every host's agent (in parallel) and checks who answers.
func Connect(ctx context.Context, cfg Config) (*Session, error) {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Profile == nil {
		return nil, fmt.Errorf("orchestrator: no profile")
	}
	s := &Session{cfg: cfg, prof: cfg.Profile, hosts: map[string]*hostConn{}, bus: newBus(),
		stats: map[string]api.HostStats{}, last: map[string]string{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, spec := range cfg.Hosts {
		s.order = append(s.order, spec.Name)
	}
	// Agents send figures as soon as a host is connected, while the others
	// are still dialled: s.hosts is filled under s.mu, which the event path
	// takes too.
	g, gctx := errgroup.WithContext(ctx)
	for _, spec := range cfg.Hosts {
		g.Go(func() error {
			h, err := dialHost(gctx, spec, cfg.Signers, cfg.HostKey, s.onAgentEvent)
			if err != nil {
				return err
			}
			h.timeout = cfg.CallTimeout
			s.mu.Lock()
			s.hosts[spec.Name] = h
			s.mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		s.Close()
		return nil, err
	}
	// What an agent killed right after its commit left (orphans.go).
	s.resolveOrphans(ctx)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.monitor() }()
	return s, nil
}

// Close ends the session; the VM keeps running on its hosts unless torn down.
func (s *Session) Close() {
	s.cancel()
	s.wg.Wait()
	for _, h := range s.hosts {
		h.close()
	}
	s.bus.close()
}

// Hosts lists the session's hosts, main first.
func (s *Session) Hosts() []string { return append([]string(nil), s.order...) }

// host returns the connection to a host, or an error naming it.
func (s *Session) host(name string) (*hostConn, error) {
	h := s.hosts[name]
	if h == nil {
		return nil, fmt.Errorf("host %s is not part of this session (hosts: %v)", name, s.order)
	}
	return h, nil
}

func (s *Session) peers() []agentrpc.Peer {
	var ps []agentrpc.Peer
	for _, name := range s.order {
		h := s.hosts[name]
		ps = append(ps, agentrpc.Peer{Name: name, Addr: peerAddr(h.spec, h.info), HostKey: h.info.HostKey})
	}
	return ps
}

// peerAddr is where the other agents reach a host's agent: the spec's
// PeerAddr; for an agent behind sshd (Command set), the listen address it
// reports, on the host the coordinator reached when it listens on all
// addresses; else the address the coordinator dialled.
func peerAddr(spec HostSpec, info agentrpc.InfoResult) string {
	switch {
	case spec.PeerAddr != "":
		return spec.PeerAddr
	case spec.Command != "" && info.PeerAddr != "":
		lh, lp, err := net.SplitHostPort(info.PeerAddr)
		if ip := net.ParseIP(lh); err == nil && (lh == "" || ip != nil && ip.IsUnspecified()) {
			if h, _, err := net.SplitHostPort(spec.Addr); err == nil {
				return net.JoinHostPort(h, lp)
			}
		}
		return info.PeerAddr
	}
	return spec.Addr
}

// setupParams describes the VM on the layout l.
func (s *Session) setupParams(l layout) agentrpc.SetupParams {
	vmc := s.prof.VM
	return agentrpc.SetupParams{
		VM: l.vm, Incarnation: l.incarnation, Main: l.main, Driver: vmc.Driver,
		MemoryBytes: vmc.MemoryBytes, CacheBytes: vmc.CacheBytes, Hosts: l.hosts, Locations: l.locations,
		Peers: s.peers(), CPUs: vmc.CPUs, Nodes: l.nodes,
		Workload: agentrpc.Workload{Pattern: vmc.Workload.Pattern, DirtyRate: vmc.Workload.DirtyRate,
			ReadRate: vmc.Workload.ReadRate, Seed: vmc.Workload.Seed, HotFraction: vmc.Workload.HotFraction},
	}
}

// Start sets the VM up on every host with the profile's split and runs it.
func (s *Session) Start(ctx context.Context) error {
	vmc := s.prof.VM
	if main, err := s.host(vmc.Split[0].Host); err == nil && vmc.Driver == "qemu" && main.info.QEMU == "" {
		return fmt.Errorf("host %s has no QEMU for this qemu guest: install it there (apt-get install qemu-system-x86), or use driver synthetic", main.spec.Name)
	}
	hosts := make([]string, len(vmc.Split))
	shares := make([]float64, len(vmc.Split))
	for i, sh := range vmc.Split {
		hosts[i], shares[i] = sh.Host, sh.Fraction
	}
	npages := uint64(vmc.MemoryBytes / api.PageSize)
	locs := pager.Split(hosts, npages, shares).Ranges()
	var nodes []uint64
	if vmc.Driver == "qemu" {
		// One NUMA node per host, each a whole number of 2 MiB, and the
		// main host's split in two: node 0 must stay on the main host in
		// every restore, so it is kept small.
		locs, nodes = alignNodes(locs, npages, 512)
		nodes = splitFirstNode(nodes, npages, 512)
	}
	l := layout{vm: vmc.Name, main: hosts[0], hosts: hosts, locations: locs, incarnation: uint64(time.Now().UnixNano()), nodes: nodes}
	p := s.setupParams(l)
	g, gctx := errgroup.WithContext(ctx)
	for _, name := range hosts {
		h, err := s.host(name)
		if err != nil {
			return err
		}
		g.Go(func() error { return h.call(gctx, agentrpc.Setup, p, nil) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("setting up VM %s: %w", l.vm, err)
	}
	main, _ := s.host(l.main)
	if err := main.call(ctx, agentrpc.Run, agentrpc.VMParams{VM: l.vm}, nil); err != nil {
		return err
	}
	s.mu.Lock()
	s.layout = l
	s.mu.Unlock()
	s.emit(api.Event{Type: api.EvLog, Level: api.Info, Message: fmt.Sprintf("VM %s (%s, %s) running on %v", l.vm, vmc.Driver, fmtBytes(vmc.MemoryBytes), hosts)})
	s.emitMemMap()
	return nil
}

// Teardown stops the VM on every host.
func (s *Session) Teardown(ctx context.Context) error {
	s.mu.Lock()
	l := s.layout
	s.mu.Unlock()
	var first error
	for _, name := range s.order {
		h := s.hosts[name]
		if err := h.call(ctx, agentrpc.Teardown, agentrpc.VMParams{VM: l.vm}, nil); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Layout is the VM's current placement, for reports.
func (s *Session) Layout() (main string, hosts []string, locations []api.Range) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.layout.main, append([]string(nil), s.layout.hosts...), append([]api.Range(nil), s.layout.locations...)
}

// monitor pings every host every 2 s and publishes the figures.
func (s *Session) monitor() {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		var wg sync.WaitGroup
		for _, h := range s.hosts {
			wg.Add(1)
			go func() { defer wg.Done(); h.ping(s.ctx) }()
		}
		wg.Wait()
		s.emitHosts()
	}
}

// onAgentEvent turns an agent's event into session events.
func (s *Session) onAgentEvent(host, method string, body json.RawMessage) {
	switch method {
	case agentrpc.EventStats:
		var ev agentrpc.StatsEvent
		if json.Unmarshal(body, &ev) != nil {
			return
		}
		s.mu.Lock()
		st := ev.Host
		if old, ok := s.stats[host]; ok {
			st.DirtyRate = old.DirtyRate
		}
		s.stats[host] = st
		for h, rate := range ev.DirtyByHost {
			o := s.stats[h]
			o.DirtyRate = rate
			s.stats[h] = o
		}
		if ev.Guest != nil {
			g := *ev.Guest
			g.Driver = s.prof.VM.Driver
			g.MemoryBytes = s.prof.VM.MemoryBytes
			s.guest = &g
		}
		guest := s.guest
		s.mu.Unlock()
		if ev.Guest != nil {
			s.emit(api.Event{Type: api.EvGuest, Guest: guest})
			s.emitHosts()
		}
	case agentrpc.EventProgress:
		var p api.Progress
		if json.Unmarshal(body, &p) == nil {
			s.emit(api.Event{Type: api.EvProgress, Host: host, Progress: &p})
		}
	case agentrpc.EventLog:
		var l agentrpc.LogEvent
		if json.Unmarshal(body, &l) == nil {
			s.emit(api.Event{Type: api.EvLog, Level: l.Level, Host: host, Message: l.Message})
		}
	}
}

func (s *Session) emitHosts() {
	s.mu.Lock()
	out := make([]api.HostStats, 0, len(s.order))
	for _, name := range s.order {
		st := s.stats[name]
		h := s.hosts[name]
		if h == nil {
			continue // still connecting
		}
		st.Host, st.Addr = name, h.spec.Addr
		if st.Role == "" {
			st.Role = "sub"
			if name == s.layout.main {
				st.Role = "main"
			}
		}
		h.mu.Lock()
		st.Connected, st.RTT = h.connected, h.rtt
		h.mu.Unlock()
		out = append(out, st)
	}
	s.mu.Unlock()
	s.emit(api.Event{Type: api.EvHosts, Hosts: out})
}

// emitMemMap publishes the current location table as map cells.
func (s *Session) emitMemMap() {
	s.mu.Lock()
	locs := s.layout.locations
	s.mu.Unlock()
	s.emit(api.Event{Type: api.EvMemMap, MemMap: memMap(locs, nil, 256)})
}

func (s *Session) emit(ev api.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	s.bus.publish(ev)
}

// Emit publishes an event of the caller's (a scenario's fault, an
// operator's action) to every subscriber and recording.
func (s *Session) Emit(ev api.Event) { s.emit(ev) }

// Subscribe implements api.Controller.
func (s *Session) Subscribe() (<-chan api.Event, func()) { return s.bus.subscribe() }

// Attach adopts the VM already running on the hosts (set up by another
// dcres process, e.g. a running lab), instead of starting one.
func (s *Session) Attach(ctx context.Context) error {
	name := s.prof.VM.Name
	var d agentrpc.DescribeResult
	var lastErr error
	for _, h := range s.order {
		hc := s.hosts[h]
		if err := hc.call(ctx, agentrpc.Describe, agentrpc.VMParams{VM: name}, &d); err != nil {
			lastErr = err
			continue
		}
		p := d.Setup
		s.mu.Lock()
		s.layout = layout{vm: p.VM, main: p.Main, hosts: p.Hosts, locations: p.Locations, incarnation: p.Incarnation, nodes: p.Nodes}
		s.lastCut = d.Base
		s.mu.Unlock()
		s.emitMemMap()
		return nil
	}
	return fmt.Errorf("VM %s is not running on any host of this session (%v): start it with dcres lab or dcres run", name, lastErr)
}

// alignNodes rounds every host's range down to a multiple of align pages
// (the main host, first, takes what rounding leaves) and returns the ranges
// and one node per host.
func alignNodes(locs []api.Range, npages, align uint64) ([]api.Range, []uint64) {
	counts := make([]uint64, len(locs))
	var rest uint64 = npages
	for i := 1; i < len(locs); i++ {
		counts[i] = locs[i].Count / align * align
		rest -= counts[i]
	}
	counts[0] = rest
	out := make([]api.Range, 0, len(locs))
	var start uint64
	for i, r := range locs {
		if counts[i] == 0 {
			continue
		}
		out = append(out, api.Range{Start: start, Count: counts[i], Host: r.Host})
		start += counts[i]
	}
	nodes := make([]uint64, 0, len(out))
	for _, r := range out {
		nodes = append(nodes, r.Count)
	}
	return out, nodes
}

// splitFirstNode splits node 0 into an eighth of the memory (whole align
// pages) and the rest, so that a restore may shrink the main host's share
// down to that eighth.
func splitFirstNode(nodes []uint64, npages, align uint64) []uint64 {
	first := max(npages/8/align*align, align)
	if len(nodes) == 0 || nodes[0] <= first {
		return nodes
	}
	return append([]uint64{first, nodes[0] - first}, nodes[1:]...)
}

// BenchPaging measures remote paging from the main host to every sub-host:
// sequential fetch rate and single-page fault latency over the peer links.
func (s *Session) BenchPaging(ctx context.Context, seqBytes int64, faults int) (map[string]agentrpc.BenchPagingResult, error) {
	s.mu.Lock()
	l := s.layout
	s.mu.Unlock()
	main, err := s.host(l.main)
	if err != nil {
		return nil, err
	}
	out := map[string]agentrpc.BenchPagingResult{}
	for _, h := range l.hosts {
		if h == l.main {
			continue
		}
		var res agentrpc.BenchPagingResult
		if err := main.call(ctx, agentrpc.BenchPaging, agentrpc.BenchPagingParams{VM: l.vm, Home: h, Bytes: seqBytes, Faults: faults}, &res); err != nil {
			return nil, fmt.Errorf("paging benchmark to %s: %w", h, err)
		}
		out[h] = res
	}
	return out, nil
}
