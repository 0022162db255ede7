package orchestrator

import (
	"context"
	"fmt"
	"time"

	"dcres/api"
)

// Retain deletes the oldest checkpoints beyond keep, except those a kept
// checkpoint depends on (its chain of parents); children go before their
// parents. It returns the ids deleted.
func (s *Session) Retain(ctx context.Context, keep int) ([]string, error) {
	if keep < 1 {
		return nil, fmt.Errorf("retention must keep at least one checkpoint, not %d", keep)
	}
	list, err := s.manifests(ctx)
	if err != nil {
		return nil, err
	}
	if len(list) <= keep {
		return nil, nil
	}
	parent := map[string]string{}
	for _, m := range list {
		parent[m.ID] = m.Parent
	}
	needed := map[string]bool{}
	for _, m := range list[len(list)-keep:] {
		for id := m.ID; id != "" && !needed[id]; id = parent[id] {
			needed[id] = true
		}
	}
	var deleted []string
	for i := len(list) - 1; i >= 0; i-- { // newest first: children before parents
		id := list[i].ID
		if needed[id] {
			continue
		}
		if err := s.Delete(ctx, id); err != nil {
			return deleted, fmt.Errorf("retention: %w", err)
		}
		deleted = append(deleted, id)
	}
	return deleted, nil
}

// Periodic takes a checkpoint of req every period until ctx ends, applying
// retention (keep > 0) after each. A failed checkpoint is reported and the
// next one is tried on time: it leaves the earlier ones intact. Incremental
// series start with a full checkpoint and take a full one again once a chain
// is keep long (or 8 without retention), so retention can drop old chains.
func (s *Session) Periodic(ctx context.Context, req api.CheckpointRequest, every time.Duration, keep int) {
	t := time.NewTicker(every)
	defer t.Stop()
	maxChain := keep
	if maxChain < 2 {
		maxChain = 8
	}
	chain := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r := req
		if r.Incremental {
			s.mu.Lock()
			hasBase := s.lastCut != ""
			s.mu.Unlock()
			r.Incremental = hasBase && chain < maxChain
		}
		if _, err := s.Checkpoint(ctx, r); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.emit(api.Event{Type: api.EvLog, Level: api.Warn, Message: fmt.Sprintf("periodic checkpoint: %v", err)})
			continue
		}
		if r.Incremental {
			chain++
		} else {
			chain = 1
		}
		if keep > 0 {
			// A checkpoint that committed gets its retention, even if the
			// series is being stopped.
			if gone, err := s.Retain(context.WithoutCancel(ctx), keep); err != nil {
				s.emit(api.Event{Type: api.EvLog, Level: api.Warn, Message: err.Error()})
			} else if len(gone) > 0 {
				s.emit(api.Event{Type: api.EvLog, Level: api.Info, Message: fmt.Sprintf("retention (keep %d): deleted %v", keep, gone)})
			}
		}
	}
}
