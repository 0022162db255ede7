package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"dcres/agentrpc"
	"dcres/api"
	"dcres/ckpt"
	"dcres/protocol"
)

// Restore implements api.Controller.
func (s *Session) Restore(ctx context.Context, req api.RestoreRequest) (*api.RestoreResult, error) {
	s.op.Lock()
	defer s.op.Unlock()
	m, err := s.resolve(ctx, req.From)
	if err != nil {
		return nil, err
	}
	p, err := parsePlacement(req.Placement, m, func(h string) bool { return s.hosts[h] != nil })
	if err != nil {
		return nil, err
	}
	// What the VM was at the cut: the NUMA nodes of a QEMU guest stay.
	var was agentrpc.SetupParams
	if len(m.VMConfig) > 0 {
		if err := json.Unmarshal(m.VMConfig, &was); err != nil {
			return nil, fmt.Errorf("checkpoint %s: its VM configuration: %w", m.ID, err)
		}
	}
	var pin uint64
	if len(was.Nodes) > 0 {
		pin = was.Nodes[0] // node 0 is the main host's shared-memory node
	}
	chain, err := s.chain(ctx, m)
	if err != nil {
		return nil, err
	}
	// Files lost without a replica but with parity are rebuilt first.
	if req.PlanOnly {
		// A plan changes nothing: no rebuild.
	} else if rebuilt, err := s.rebuildForRestore(ctx, chain); err != nil {
		return nil, fmt.Errorf("restore of %s refused before anything started: %w", m.ID, err)
	} else if rebuilt {
		if m, err = s.resolve(ctx, m.ID); err != nil {
			return nil, err
		}
		if chain, err = s.chain(ctx, m); err != nil {
			return nil, err
		}
	}
	rp, err := plan(chain, p, pin, s.cfg.LinkRate)
	if err != nil {
		return nil, fmt.Errorf("restore of %s: %w", m.ID, err)
	}
	if err := s.checkCapacity(rp); err != nil {
		return nil, fmt.Errorf("restore of %s refused before anything started: %w", m.ID, err)
	}
	alive := s.alive(ctx)
	for _, t := range rp.hosts {
		if !alive[t] {
			return nil, fmt.Errorf("restore of %s refused before anything started: target host %s does not answer; choose a placement without it, e.g. --placement single:%s", m.ID, t, rp.main)
		}
	}
	deviceFrom, err := s.useReplicas(chain, rp, alive)
	if err != nil {
		return nil, fmt.Errorf("restore of %s refused before anything started: %w", m.ID, err)
	}
	if m.Method != "qemu-stream" {
		// Bytes to move: only pages with data (zero pages are elided).
		s.census(ctx, m.VM, rp)
	}
	placementName := req.Placement
	if placementName == "" {
		placementName = "same"
	}
	s.emit(api.Event{Type: api.EvPlan, ID: m.ID, Plan: &rp.api})
	if req.PlanOnly {
		return &api.RestoreResult{ID: m.ID, Placement: placementName, Plan: &rp.api}, nil
	}
	manifest, err := ckpt.EncodeManifest(m)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	old := s.layout
	s.mu.Unlock()
	var oldHosts []string
	for _, h := range old.hosts {
		// A host that is gone has no guest to stop.
		if old.vm != "" && alive[h] {
			oldHosts = append(oldHosts, h)
		}
	}
	mach, err := protocol.NewRestore(rp.main, rp.hosts, oldHosts)
	if err != nil {
		return nil, err
	}
	if req.Lazy {
		mach.Lazy()
	}
	nl := layout{vm: m.VM, main: rp.main, hosts: rp.hosts, locations: rp.locations, incarnation: uint64(time.Now().UnixNano()), nodes: was.Nodes}
	if m.Method == "qemu-stream" {
		// QEMU's own stream holds every page: the homes start empty and are
		// filled by the restored QEMU's writes through the remote nodes.
		rp.sources = map[string][]sourceRanges{}
	}
	// Every host that holds a piece must know the targets as peers, even a
	// host that is no target.
	if err := s.introduceAll(ctx, m.VM, alive); err != nil {
		return nil, err
	}
	s.emit(api.Event{Type: api.EvOpStart, Op: "restore", ID: m.ID, Message: fmt.Sprintf("restore of %s onto %v (%s)", m.ID, rp.hosts, placementName)})
	d := &restoreDriver{s: s, m: m, manifest: manifest, rp: rp, l: nl, loads: map[string]*agentrpc.LoadResult{}, deviceFrom: deviceFrom, lazy: req.Lazy}
	start := time.Now()
	d.start = start
	run(ctx, mach, d.perform, s.emitStep("restore", m.ID))
	res := &api.RestoreResult{ID: m.ID, Placement: placementName, Seconds: time.Since(start).Seconds(), Plan: &rp.api, RunningSeconds: d.running}
	for _, h := range sortedKeys(d.loads) {
		lr := d.loads[h]
		res.PerHost = append(res.PerHost, api.HostResult{Host: h, Bytes: lr.Bytes, Pages: lr.Pages, Seconds: lr.Seconds, Pulled: lr.Pulled})
		res.BytesOverNetwork += lr.Pulled
	}
	if err := mach.Err(); err != nil {
		s.mu.Lock()
		if mach.Phase() != protocol.PhaseFailed || d.stopped {
			s.layout = layout{} // the old guest is gone; nothing runs
		}
		s.mu.Unlock()
		s.emit(api.Event{Type: api.EvOpDone, Op: "restore", ID: m.ID, Level: api.Error, Message: fmt.Sprintf("restore of %s failed; the guest is stopped and the checkpoint is intact: %v", m.ID, err)})
		return nil, fmt.Errorf("restore of %s failed (the checkpoint is intact; the guest is stopped): %w", m.ID, err)
	}
	s.mu.Lock()
	s.layout = nl
	s.lastCut = m.ID
	s.mu.Unlock()
	s.emit(api.Event{Type: api.EvOpDone, Op: "restore", ID: m.ID, Level: api.Info, Restore: res,
		Message: fmt.Sprintf("restored %s onto %v in %.2fs, %s pulled over the network", m.ID, rp.hosts, res.Seconds, fmtBytes(res.BytesOverNetwork))})
	s.emitMemMap()
	return res, nil
}

// checkCapacity refuses a plan a target cannot hold.
func (s *Session) checkCapacity(rp *restorePlan) error {
	for _, t := range rp.api.Targets {
		h, err := s.host(t.Host)
		if err != nil {
			return err
		}
		need := t.Pages * api.PageSize
		if h.info.MemoryBytes > 0 && need > h.info.MemoryBytes {
			return fmt.Errorf("host %s would hold %s but has %s of memory", t.Host, fmtBytes(need), fmtBytes(h.info.MemoryBytes))
		}
	}
	return nil
}

func (s *Session) introduceAll(ctx context.Context, vm string, alive map[string]bool) error {
	peers := s.peers()
	g, gctx := errgroup.WithContext(ctx)
	for name, h := range s.hosts {
		if !alive[name] {
			continue
		}
		g.Go(func() error {
			return h.call(gctx, agentrpc.Introduce, agentrpc.IntroduceParams{VM: vm, Peers: peers}, nil)
		})
	}
	return g.Wait()
}

type restoreDriver struct {
	s        *Session
	m        *ckpt.Manifest
	manifest []byte
	rp       *restorePlan
	l        layout
	loads    map[string]*agentrpc.LoadResult
	stopped  bool
	// deviceFrom is the replica of the device state, when the main host's
	// own copy is lost.
	deviceFrom *ckpt.Replica
	lazy       bool
	start      time.Time
	running    float64 // seconds until the guest ran
}

func (d *restoreDriver) perform(ctx context.Context, msg protocol.Msg) (func(), roundStat, error) {
	apply, err := d.do(ctx, msg)
	return apply, roundStat{}, err
}

func (d *restoreDriver) do(ctx context.Context, msg protocol.Msg) (func(), error) {
	h, err := d.s.host(msg.To)
	if err != nil {
		return nil, err
	}
	vmp := agentrpc.VMParams{VM: d.m.VM}
	switch msg.Kind {
	case protocol.Stop:
		err := h.call(ctx, agentrpc.RestoreStop, vmp, nil)
		return func() {
			if err == nil && msg.To == d.rp.main {
				d.stopped = true
			}
		}, err
	case protocol.Load:
		p := agentrpc.LoadParams{Setup: d.s.setupParams(d.l), ID: d.m.ID, Manifest: d.manifest}
		if msg.To == d.rp.main {
			p.DeviceFrom = d.deviceFrom
		} else {
			p.Lazy = d.lazy
		}
		for _, sr := range d.rp.sources[msg.To] {
			p.Sources = append(p.Sources, agentrpc.Source{Host: sr.host, ID: sr.id, Of: sr.of, Ranges: sr.ranges})
		}
		var res agentrpc.LoadResult
		// Loading a large share may take long; it has its own deadline.
		if err := h.callFor(ctx, agentrpc.RestoreLoad, p, &res, 30*time.Minute); err != nil {
			return nil, err
		}
		return func() { d.loads[msg.To] = &res }, nil
	case protocol.Start:
		if err := h.callFor(ctx, agentrpc.RestoreStart, agentrpc.StartParams{VM: d.m.VM, ID: d.m.ID, Manifest: d.manifest}, nil, 0); err != nil {
			return nil, err
		}
		t := time.Since(d.start).Seconds()
		return func() { d.running = t }, nil
	case protocol.Settle:
		var res agentrpc.LoadResult
		if err := h.callFor(ctx, agentrpc.RestoreWait, vmp, &res, 30*time.Minute); err != nil {
			return nil, err
		}
		return func() { d.loads[msg.To] = &res }, nil
	case protocol.Halt:
		return nil, h.call(ctx, agentrpc.RestoreStop, vmp, nil)
	case protocol.Discard:
		return nil, h.call(ctx, agentrpc.Discard, vmp, nil)
	}
	return nil, fmt.Errorf("restore: no way to perform %s", msg)
}

// resolve finds a committed checkpoint by id or by "last", "last-METHOD".
func (s *Session) resolve(ctx context.Context, from string) (*ckpt.Manifest, error) {
	list, err := s.manifests(ctx)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 && (from == "" || strings.HasPrefix(from, "last")) {
		return nil, fmt.Errorf("there is no committed checkpoint of VM %s to restore: take one first", s.prof.VM.Name)
	}
	if from == "" {
		from = "last"
	}
	if from == "last" || strings.HasPrefix(from, "last-") {
		method := strings.TrimPrefix(strings.TrimPrefix(from, "last"), "-")
		for i := len(list) - 1; i >= 0; i-- {
			if method == "" || list[i].Method == method {
				return list[i], nil
			}
		}
		return nil, fmt.Errorf("no committed %s checkpoint of VM %s", method, s.prof.VM.Name)
	}
	for _, m := range list {
		if m.ID == from {
			return m, nil
		}
	}
	s.mu.Lock()
	why := s.damaged[from]
	s.mu.Unlock()
	if len(why) > 0 {
		sort.Strings(why)
		return nil, fmt.Errorf("checkpoint %s cannot be used: its manifest is damaged on %s", from, strings.Join(why, "; "))
	}
	return nil, fmt.Errorf("checkpoint %q is not among the committed checkpoints of VM %s (see dcres ls)", from, s.prof.VM.Name)
}

// chain returns m after its ancestors, oldest (a full checkpoint) first.
func (s *Session) chain(ctx context.Context, m *ckpt.Manifest) ([]*ckpt.Manifest, error) {
	if m.Parent == "" {
		return []*ckpt.Manifest{m}, nil
	}
	list, err := s.manifests(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[string]*ckpt.Manifest{}
	for _, c := range list {
		byID[c.ID] = c
	}
	chain := []*ckpt.Manifest{m}
	for c := m; c.Parent != ""; {
		p := byID[c.Parent]
		if p == nil {
			return nil, fmt.Errorf("checkpoint %s needs its parent %s, which is not committed on every host it names: restore an older checkpoint", c.ID, c.Parent)
		}
		if len(chain) > 1000 {
			return nil, fmt.Errorf("checkpoint %s: its chain of parents does not end", m.ID)
		}
		chain = append(chain, p)
		c = p
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	return chain, nil
}

// alive pings every host (briefly) and says which answer.
func (s *Session) alive(ctx context.Context) map[string]bool {
	out := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, h := range s.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.ping(ctx)
			h.mu.Lock()
			ok := h.connected
			h.mu.Unlock()
			mu.Lock()
			out[name] = ok
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// useReplicas points every source whose host lost the checkpoint (or does
// not answer) at a host holding replicas of its files, and finds the device
// state's replica when the main host's own copy is lost.
func (s *Session) useReplicas(chain []*ckpt.Manifest, rp *restorePlan, alive map[string]bool) (*ckpt.Replica, error) {
	s.mu.Lock()
	have := s.have
	s.mu.Unlock()
	byID := map[string]*ckpt.Manifest{}
	for _, c := range chain {
		byID[c.ID] = c
	}
	has := func(id string) map[string]bool {
		out := map[string]bool{}
		for h, ok := range have[id] {
			out[h] = ok && alive[h]
		}
		return out
	}
	for t, srcs := range rp.sources {
		for i, sr := range srcs {
			id := sr.id
			if id == "" {
				id = chain[len(chain)-1].ID
			}
			hs := has(id)
			if hs[sr.host] {
				continue
			}
			holder := replicaHolder(byID[id], sr.host, hs)
			if holder == "" {
				if byID[id] != nil && byID[id].Parity != nil {
					return nil, fmt.Errorf("host %s lost its part of checkpoint %s; it has no replica, and is rebuilt from parity when the restore runs (a plan changes nothing)", sr.host, id)
				}
				return nil, fmt.Errorf("host %s lost its part of checkpoint %s and no replica of it survives", sr.host, id)
			}
			srcs[i].of, srcs[i].host = sr.host, holder
			s.emit(api.Event{Type: api.EvLog, Level: api.Warn, Message: fmt.Sprintf("%s's part of %s is lost: restoring it from the replica on %s", sr.of0(), id, holder)})
		}
		rp.sources[t] = srcs
	}
	m := chain[len(chain)-1]
	if m.DeviceState == nil {
		return nil, nil
	}
	hs := has(m.ID)
	if hs[m.DeviceState.Host] {
		return nil, nil
	}
	for _, r := range m.Replicas {
		if r.Of == m.DeviceState.Host && r.Original == m.DeviceState.File && hs[r.Host] {
			rep := r
			return &rep, nil
		}
	}
	return nil, fmt.Errorf("the device state of %s on %s is lost and has no replica", m.ID, m.DeviceState.Host)
}
