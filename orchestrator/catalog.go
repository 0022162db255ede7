package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"dcres/agentrpc"
	"dcres/api"
	"dcres/ckpt"
)

// manifests lists the restorable checkpoints, oldest first: those whose
// files every holder still has, or, where a holder is lost (unreachable, or
// its directory gone), whose replicas of that holder's files survive. It
// records which hosts have each checkpoint for the restore planner.
func (s *Session) manifests(ctx context.Context) ([]*ckpt.Manifest, error) {
	lists, failed := s.listHosts(ctx)
	if len(lists) == 0 && len(failed) > 0 {
		var errs []error
		for _, h := range sortedKeys(failed) {
			errs = append(errs, failed[h])
		}
		return nil, errors.Join(errs...)
	}
	for _, h := range sortedKeys(failed) {
		s.emit(api.Event{Type: api.EvLog, Level: api.Warn, Message: failed[h].Error()})
	}
	seen := map[string]map[string]*ckpt.Manifest{} // id -> host -> manifest
	damaged := map[string][]string{}               // id -> "host: why"
	for _, name := range sortedKeys(lists) {
		l := lists[name]
		for _, id := range sortedKeys(l.damaged) {
			damaged[id] = append(damaged[id], fmt.Sprintf("%s: %s", name, l.damaged[id]))
		}
		for id, m := range l.manifests {
			if seen[id] == nil {
				seen[id] = map[string]*ckpt.Manifest{}
			}
			seen[id][name] = m
		}
	}
	var out []*ckpt.Manifest
	have := map[string]map[string]bool{}
	for id, byHost := range seen {
		// The manifest with the most replicas: a repair that added some
		// rewrites the manifest host by host, and a host it has not reached
		// yet still holds the same files (ckpt.SameCut).
		var m *ckpt.Manifest
		for _, h := range sortedKeys(byHost) {
			if mm := byHost[h]; m == nil || len(mm.Replicas) > len(m.Replicas) {
				m = mm
			}
		}
		has := map[string]bool{}
		for h, mm := range byHost {
			has[h] = ckpt.SameCut(mm, m)
		}
		if restorable(m, has) {
			out = append(out, m)
			have[id] = has
		}
	}
	s.mu.Lock()
	s.have = have
	s.damaged = damaged
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// restorable: every holder of m has it, or a replica of its files does.
func restorable(m *ckpt.Manifest, has map[string]bool) bool {
	lost := map[string]bool{}
	for _, h := range holders(m) {
		if !has[h] && replicaHolder(m, h, has) == "" {
			lost[h] = true
		}
	}
	return len(lost) == 0 || parityCovers(m, has, lost)
}

// replicaHolder is a host that has m and holds replicas of lost's files
// (all of them), or "".
func replicaHolder(m *ckpt.Manifest, lost string, has map[string]bool) string {
	need := 0
	for _, p := range m.Pieces {
		if p.Host == lost {
			need++
		}
	}
	if m.DeviceState != nil && m.DeviceState.Host == lost {
		need++
	}
	count := map[string]int{}
	for _, r := range m.Replicas {
		if r.Of == lost && has[r.Host] {
			count[r.Host]++
		}
	}
	for _, h := range sortedKeys(count) {
		if count[h] >= need {
			return h
		}
	}
	return ""
}

func info(m *ckpt.Manifest) api.CheckpointInfo {
	ci := api.CheckpointInfo{ID: m.ID, VM: m.VM, Created: m.Created, Method: m.Method, Live: m.Live, Parent: m.Parent, Hosts: holders(m)}
	for _, p := range m.Pieces {
		ci.Bytes += p.Bytes
	}
	if m.DeviceState != nil {
		ci.Bytes += m.DeviceState.Bytes
	}
	var st struct {
		Seconds      float64 `json:"seconds"`
		PauseSeconds float64 `json:"pause_seconds"`
	}
	if len(m.Stats) > 0 {
		_ = json.Unmarshal(m.Stats, &st)
	}
	ci.Seconds, ci.PauseSeconds = st.Seconds, st.PauseSeconds
	return ci
}

// List implements api.Controller.
func (s *Session) List(ctx context.Context) ([]api.CheckpointInfo, error) {
	ms, err := s.manifests(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.CheckpointInfo, 0, len(ms))
	for _, m := range ms {
		out = append(out, info(m))
	}
	return out, nil
}

func (s *Session) publishList(ctx context.Context) {
	list, err := s.List(ctx)
	if err != nil {
		s.emit(api.Event{Type: api.EvLog, Level: api.Warn, Message: fmt.Sprintf("listing checkpoints: %v", err)})
		return
	}
	s.emit(api.Event{Type: api.EvCheckpoints, Checkpoints: list})
}

// Verify implements api.Controller: a checkpoint's digests on every host it
// names, or (id "") the running guest's pages against what it wrote.
func (s *Session) Verify(ctx context.Context, id string) (*api.VerifyResult, error) {
	s.op.Lock()
	defer s.op.Unlock()
	if id == "" {
		s.mu.Lock()
		l := s.layout
		s.mu.Unlock()
		if l.vm == "" {
			return nil, fmt.Errorf("no guest is running to verify")
		}
		h, err := s.host(l.main)
		if err != nil {
			return nil, err
		}
		var res agentrpc.VerifyGuestResult
		if err := h.call(ctx, agentrpc.VerifyGuest, agentrpc.VMParams{VM: l.vm}, &res); err != nil {
			return nil, err
		}
		lvl := api.Info
		if res.Errors > 0 {
			lvl = api.Error
		}
		out := &api.VerifyResult{Pages: res.Pages, Errors: res.Errors}
		s.emit(api.Event{Type: api.EvOpDone, Op: "verify", Level: lvl, Verify: out, Message: fmt.Sprintf("guest verify: %d pages, %d errors", res.Pages, res.Errors)})
		return out, nil
	}
	target, err := s.resolve(ctx, id)
	if err != nil {
		return nil, err
	}
	// An incremental checkpoint is only as good as its ancestors: all of
	// them are checked.
	chain, err := s.chain(ctx, target)
	if err != nil {
		return nil, err
	}
	out := &api.VerifyResult{Checkpoint: target.ID}
	for _, m := range chain {
		hosts := withReplicaHolders(m)
		s.mu.Lock()
		has := map[string]bool{}
		for _, name := range hosts {
			has[name] = s.have[m.ID][name]
		}
		s.mu.Unlock()
		for _, name := range hosts {
			if !has[name] {
				out.Faults = append(out.Faults, fmt.Sprintf("%s: checkpoint %s is lost there (unreachable, or its directory is gone)%s", name, m.ID, redundancyNote(m, name)))
			}
		}
		faults, bad, err := s.verifyHolders(ctx, m, hosts, has)
		if err != nil {
			return nil, err
		}
		out.Faults = append(out.Faults, faults...)
		out.Redundancy = append(out.Redundancy, health(m, has, bad)...)
	}
	for _, m := range chain {
		for _, p := range m.Pieces {
			out.Pages += p.Pages
		}
	}
	m := target
	out.Errors = int64(len(out.Faults))
	sort.Strings(out.Faults)
	lvl := api.Info
	if out.Errors > 0 {
		lvl = api.Error
	}
	note := ""
	if n := unhealthy(out.Redundancy); n > 0 {
		note = fmt.Sprintf("; %d of %d files lack copies (dcres repair rebuilds them)", n, len(out.Redundancy))
	}
	s.emit(api.Event{Type: api.EvOpDone, Op: "verify", ID: m.ID, Level: lvl, Verify: out, Message: fmt.Sprintf("verify of %s: %d pages, %d faults%s", m.ID, out.Pages, out.Errors, note)})
	return out, nil
}

// Delete implements api.Controller.
func (s *Session) Delete(ctx context.Context, id string) error {
	s.op.Lock()
	defer s.op.Unlock()
	m, err := s.resolve(ctx, id)
	if err != nil {
		return err
	}
	list, err := s.manifests(ctx)
	if err != nil {
		return err
	}
	for _, c := range list {
		if c.Parent == m.ID {
			return fmt.Errorf("checkpoint %s is the parent of %s: delete that one first (or compact it into a full checkpoint)", m.ID, c.ID)
		}
	}
	for _, name := range holders(m) {
		h, err := s.host(name)
		if err != nil {
			return err
		}
		if err := h.call(ctx, agentrpc.Delete, agentrpc.CkptParams{VM: m.VM, ID: m.ID}, nil); err != nil {
			return fmt.Errorf("deleting %s on %s: %w", m.ID, name, err)
		}
	}
	s.emit(api.Event{Type: api.EvLog, Level: api.Info, Message: fmt.Sprintf("deleted checkpoint %s", m.ID)})
	s.publishList(ctx)
	return nil
}

// holders are the hosts that hold files of checkpoint m (its pieces and
// device state): where it is committed, verified and deleted.
func holders(m *ckpt.Manifest) []string {
	seen := map[string]bool{}
	var out []string
	add := func(h string) {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	for _, p := range m.Pieces {
		add(p.Host)
	}
	if m.DeviceState != nil {
		add(m.DeviceState.Host)
	}
	return out
}

// withReplicaHolders is holders plus the hosts holding replicas.
func withReplicaHolders(m *ckpt.Manifest) []string {
	out := holders(m)
	seen := map[string]bool{}
	for _, h := range out {
		seen[h] = true
	}
	for _, r := range m.Replicas {
		if !seen[r.Host] {
			seen[r.Host] = true
			out = append(out, r.Host)
		}
	}
	return out
}

func redundancyNote(m *ckpt.Manifest, lost string) string {
	if m.Parity != nil {
		return "; its files can be rebuilt from the other hosts' and the parity shards (dcres repair does; a restore does it first)"
	}
	for _, r := range m.Replicas {
		if r.Of == lost {
			return fmt.Sprintf("; its files have a replica on %s, so the checkpoint still restores (dcres repair rebuilds them)", r.Host)
		}
	}
	return ""
}
