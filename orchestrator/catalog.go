package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	"dcres/agentrpc"
	"dcres/api"
	"dcres/ckpt"
)

// manifests lists the checkpoints committed on every host they name, oldest
// first: a checkpoint missing anywhere is not listed (it could not be restored).
func (s *Session) manifests(ctx context.Context) ([]*ckpt.Manifest, error) {
	vm := s.prof.VM.Name
	var mu sync.Mutex
	seen := map[string]map[string]*ckpt.Manifest{} // id -> host -> manifest
	g, gctx := errgroup.WithContext(ctx)
	for name, h := range s.hosts {
		g.Go(func() error {
			var res agentrpc.ListResult
			if err := h.call(gctx, agentrpc.List, agentrpc.VMParams{VM: vm}, &res); err != nil {
				return fmt.Errorf("listing checkpoints on %s: %w", name, err)
			}
			for _, b := range res.Manifests {
				m, err := ckpt.DecodeManifest(b)
				if err != nil {
					return fmt.Errorf("a manifest on %s: %w", name, err)
				}
				mu.Lock()
				if seen[m.ID] == nil {
					seen[m.ID] = map[string]*ckpt.Manifest{}
				}
				seen[m.ID][name] = m
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []*ckpt.Manifest
	for _, byHost := range seen {
		var m *ckpt.Manifest
		for _, mm := range byHost {
			m = mm
			break
		}
		complete := true
		for _, h := range holders(m) {
			if byHost[h] == nil || byHost[h].Checksum != m.Checksum {
				complete = false
			}
		}
		if complete {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
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
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, m := range chain {
		for _, name := range holders(m) {
			h, err := s.host(name)
			if err != nil {
				return nil, err
			}
			g.Go(func() error {
				var res agentrpc.VerifyResult
				if err := h.call(gctx, agentrpc.VerifyPiece, agentrpc.CkptParams{VM: m.VM, ID: m.ID}, &res); err != nil {
					return fmt.Errorf("verify on %s: %w", name, err)
				}
				mu.Lock()
				out.Faults = append(out.Faults, res.Faults...)
				mu.Unlock()
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
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
	s.emit(api.Event{Type: api.EvOpDone, Op: "verify", ID: m.ID, Level: lvl, Verify: out, Message: fmt.Sprintf("verify of %s: %d pages, %d faults", m.ID, out.Pages, out.Errors)})
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
