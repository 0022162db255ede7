package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"dcres/agentrpc"
	"dcres/api"
	"dcres/ckpt"
	"dcres/protocol"
)

// Compact folds checkpoint id and its chain of parents into a new full
// checkpoint that restores to the same pages. Every host writes its piece
// from the chain's pieces it holds (no page crosses the network), then the
// new checkpoint commits on all of them, or on none. The chain stays.
func (s *Session) Compact(ctx context.Context, id string) (*api.CheckpointResult, error) {
	s.op.Lock()
	defer s.op.Unlock()
	m, err := s.resolve(ctx, id)
	if err != nil {
		return nil, err
	}
	chain, err := s.chain(ctx, m)
	if err != nil {
		return nil, err
	}
	if len(chain) == 1 {
		return nil, fmt.Errorf("checkpoint %s is already a full checkpoint", m.ID)
	}
	npages := uint64(m.MemoryBytes / int64(m.PageSize))
	keys, src, err := authoritative(chain, npages)
	if err != nil {
		return nil, err
	}
	// Per host, the ranges it holds the last copy of, by source checkpoint.
	sources := map[string][]agentrpc.Source{}
	home := make([]string, npages)
	for _, r := range m.Locations {
		for g := r.Start; g < r.Start+r.Count; g++ {
			home[g] = r.Host
		}
	}
	var overrides []api.Range
	for g := uint64(0); g < npages; g++ {
		k := keys[src[g]]
		list := sources[k.host]
		n := len(list)
		if n > 0 && list[n-1].ID == k.id {
			rs := list[n-1].Ranges
			if last := &rs[len(rs)-1]; last.Start+last.Count == g {
				last.Count++
			} else {
				list[n-1].Ranges = append(rs, api.Range{Start: g, Count: 1, Host: k.host})
			}
		} else {
			list = append(list, agentrpc.Source{Host: k.host, ID: k.id, Ranges: []api.Range{{Start: g, Count: 1, Host: k.host}}})
		}
		sources[k.host] = list
		if k.host != home[g] {
			overrides = addRange(overrides, g, k.host)
		}
	}
	newID := newID("compact", s.nextSeq())
	holdersOf := sortedKeys(sources)
	if m.DeviceState != nil && sources[m.DeviceState.Host] == nil {
		holdersOf = append(holdersOf, m.DeviceState.Host)
	}
	mach, err := protocol.NewCheckpoint(m.Main, holdersOf)
	if err != nil {
		return nil, err
	}
	mach.Offline()
	d := &compactDriver{s: s, from: m, id: newID, npages: npages, sources: sources, results: map[string]*agentrpc.SaveResult{}}
	d.base = &ckpt.Manifest{
		Format: ckpt.ManifestFormat, ID: newID, VM: m.VM, Created: m.Created, Method: m.Method, Driver: m.Driver,
		MemoryBytes: m.MemoryBytes, PageSize: m.PageSize, Main: m.Main, Hosts: m.Hosts, Locations: m.Locations,
		Overrides: overrides, VMConfig: m.VMConfig,
	}
	s.emit(api.Event{Type: api.EvOpStart, Op: "compact", ID: newID, Message: fmt.Sprintf("compacting the chain of %d checkpoints ending at %s into %s", len(chain), m.ID, newID)})
	start := time.Now()
	run(ctx, mach, d.perform, s.emitStep("compact", newID))
	if err := mach.Err(); err != nil && !mach.Committed() {
		s.emit(api.Event{Type: api.EvOpDone, Op: "compact", ID: newID, Level: api.Error, Message: fmt.Sprintf("compaction failed; the chain is untouched: %v", err)})
		return nil, fmt.Errorf("compacting %s failed (the chain is untouched): %w", m.ID, err)
	}
	res := &api.CheckpointResult{ID: newID, Method: m.Method, Seconds: time.Since(start).Seconds()}
	for _, h := range sortedKeys(d.results) {
		r := d.results[h]
		hr := api.HostResult{Host: h}
		if r.Piece != nil {
			hr.Bytes, hr.Pages = r.Piece.Bytes, r.Piece.Pages
		}
		res.BytesSaved += hr.Bytes
		res.PerHost = append(res.PerHost, hr)
	}
	s.emit(api.Event{Type: api.EvOpDone, Op: "compact", ID: newID, Level: api.Info, Checkpoint: res,
		Message: fmt.Sprintf("compacted %s into %s: %s in %.2fs", m.ID, newID, fmtBytes(res.BytesSaved), res.Seconds)})
	s.publishList(ctx)
	return res, nil
}

func (s *Session) nextSeq() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return s.seq
}

// compactDriver performs an offline checkpoint machine's messages.
type compactDriver struct {
	s        *Session
	from     *ckpt.Manifest
	id       string
	npages   uint64
	sources  map[string][]agentrpc.Source
	results  map[string]*agentrpc.SaveResult
	base     *ckpt.Manifest
	manifest []byte
}

func (d *compactDriver) perform(ctx context.Context, msg protocol.Msg) (func(), roundStat, error) {
	h, err := d.s.host(msg.To)
	if err != nil {
		return nil, roundStat{}, err
	}
	cp := agentrpc.CkptParams{VM: d.from.VM, ID: d.id}
	switch msg.Kind {
	case protocol.Save:
		p := agentrpc.CompactParams{VM: d.from.VM, ID: d.id, From: d.from.ID, NPages: d.npages, Sources: d.sources[msg.To]}
		if ds := d.from.DeviceState; ds != nil && ds.Host == msg.To {
			p.DeviceState = ds
		}
		var res agentrpc.SaveResult
		if err := h.callFor(ctx, agentrpc.Compact, p, &res, 30*time.Minute); err != nil {
			return nil, roundStat{}, err
		}
		return func() { d.results[msg.To] = &res }, roundStat{}, nil
	case protocol.Commit:
		b, err := d.manifestBytes()
		if err != nil {
			return nil, roundStat{}, err
		}
		return nil, roundStat{}, h.callFor(ctx, agentrpc.Commit, agentrpc.CommitParams{VM: d.from.VM, ID: d.id, Manifest: b}, nil, 0)
	case protocol.Abort:
		return nil, roundStat{}, h.call(ctx, agentrpc.Abort, cp, nil)
	case protocol.Rollback:
		return nil, roundStat{}, h.call(ctx, agentrpc.Rollback, cp, nil)
	}
	return nil, roundStat{}, fmt.Errorf("compact: no way to perform %s", msg)
}

func (d *compactDriver) manifestBytes() ([]byte, error) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if d.manifest != nil {
		return d.manifest, nil
	}
	m := *d.base
	for _, h := range sortedKeys(d.results) {
		r := d.results[h]
		if r.Piece != nil {
			m.Pieces = append(m.Pieces, *r.Piece)
		}
		if r.DeviceState != nil {
			m.DeviceState = r.DeviceState
		}
	}
	m.Stats, _ = json.Marshal(map[string]any{"compacted_from": d.from.ID})
	b, err := ckpt.EncodeManifest(&m)
	if err != nil {
		return nil, err
	}
	d.manifest = b
	return b, nil
}

// addRange appends gfn g to rs, extending the last range when it can.
func addRange(rs []api.Range, g uint64, host string) []api.Range {
	if n := len(rs); n > 0 && rs[n-1].Host == host && rs[n-1].Start+rs[n-1].Count == g {
		rs[n-1].Count++
		return rs
	}
	return append(rs, api.Range{Start: g, Count: 1, Host: host})
}
