package orchestrator

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"dcres/agentrpc"
	"dcres/api"
	"dcres/ckpt"
)

// parityState is a checkpoint's Reed-Solomon parity while it is taken: the
// layout every host streams its files by, and what the protect phase
// reported (every host's stream, the shards the holders finished).
type parityState struct {
	mu      sync.Mutex
	layout  *ckpt.Parity
	streams []ckpt.ParityStream
	shards  []ckpt.ParityShard
}

// newParity is the parity of a checkpoint request over its savers, or nil
// when it asks for none.
func newParity(req api.CheckpointRequest, savers []string) (*parityState, error) {
	if req.Parity == 0 {
		return nil, nil
	}
	if req.Replicas > 0 {
		return nil, fmt.Errorf("a checkpoint has replicas or parity, not both: choose one")
	}
	if req.Method != "dcres" {
		return nil, fmt.Errorf("parity protects the files of several hosts, and method %s saves on the main host only: use replicas", req.Method)
	}
	l, err := ckpt.NewParity(savers, req.Parity)
	if err != nil {
		return nil, err
	}
	return &parityState{layout: l}, nil
}

// params is the layout a host's protect call carries (nil without parity).
func (p *parityState) params() *ckpt.Parity {
	if p == nil {
		return nil
	}
	return p.layout
}

// add records a host's protect result.
func (p *parityState) add(res *agentrpc.ProtectResult) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if res.Stream != nil {
		p.streams = append(p.streams, *res.Stream)
	}
	p.shards = append(p.shards, res.Shards...)
}

// manifest is the manifest's parity: every stream and every shard, or an
// error if a holder did not finish its shard.
func (p *parityState) manifest() (*ckpt.Parity, error) {
	if p == nil {
		return nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := *p.layout
	out.Streams = append([]ckpt.ParityStream(nil), p.streams...)
	out.Shards = append([]ckpt.ParityShard(nil), p.shards...)
	sort.Slice(out.Streams, func(i, j int) bool { return out.Streams[i].Host < out.Streams[j].Host })
	sort.Slice(out.Shards, func(i, j int) bool {
		if out.Shards[i].Group != out.Shards[j].Group {
			return out.Shards[i].Group < out.Shards[j].Group
		}
		return out.Shards[i].Index < out.Shards[j].Index
	})
	if want := len(out.Hosts) * out.Parity; len(out.Shards) != want || len(out.Streams) != len(out.Hosts) {
		return nil, fmt.Errorf("parity: %d of %d shards and %d of %d streams reported", len(out.Shards), want, len(out.Streams), len(out.Hosts))
	}
	return &out, nil
}

// bytes is what the parity shards hold on disk.
func (p *parityState) bytes() int64 {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for _, s := range p.shards {
		n += s.Bytes
	}
	return n
}

// parityCovers reports whether m's parity rebuilds the files of the lost
// hosts: in every group, the lost data shards and the parity shards whose
// holders do not have m are at most the parity shards.
func parityCovers(m *ckpt.Manifest, has, lost map[string]bool) bool {
	p := m.Parity
	if p == nil {
		return false
	}
	for h := range lost {
		if p.Stream(h) == nil {
			return false
		}
	}
	for g := range p.Hosts {
		n := 0
		for _, h := range p.DataHosts(g) {
			if lost[h] {
				n++
			}
		}
		for j, h := range p.Holders(g) {
			if !has[h] || p.Shard(g, j) == nil {
				n++
			}
		}
		if n > p.Parity {
			return false
		}
	}
	return true
}

// rebuildForRestore rebuilds, from parity, every file of the chain whose
// host lost it without a replica: in place where the host answers, else
// onto the main host (as replicas, which the restore then reads). It says
// whether it rebuilt anything; an error means a lost file is still lost.
func (s *Session) rebuildForRestore(ctx context.Context, chain []*ckpt.Manifest) (bool, error) {
	alive := s.alive(ctx)
	did := false
	for _, c := range chain {
		if c.Parity == nil {
			continue
		}
		has := s.hasAlive(c.ID, alive)
		var lost []string
		onto := ""
		for _, h := range holders(c) {
			if !has[h] && replicaHolder(c, h, has) == "" {
				lost = append(lost, h)
				if !alive[h] {
					onto = c.Main
				}
			}
		}
		if len(lost) == 0 {
			continue
		}
		s.emit(api.Event{Type: api.EvLog, Level: api.Warn, ID: c.ID, Message: fmt.Sprintf("%v lost their part of %s: rebuilding it from parity before the restore", lost, c.ID)})
		_, rerr := s.repair(ctx, c, onto)
		did = true
		m, err := s.resolve(ctx, c.ID)
		if err != nil {
			return did, err
		}
		has = s.hasAlive(c.ID, alive)
		for _, h := range lost {
			if !has[h] && replicaHolder(m, h, has) == "" {
				return did, fmt.Errorf("%s's part of %s could not be rebuilt from parity: %v", h, c.ID, rerr)
			}
		}
	}
	return did, nil
}
