package orchestrator

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"dcres/agentrpc"
	"dcres/api"
	"dcres/ckpt"
)

// An orphan manifest is what an agent killed right after its commit leaves:
// the checkpoint is committed on that host, while the coordinator rolled it
// back on the others. It is never listed (a holder lacks it) and no later
// commit can complete it. A session resolves orphans when it connects; it
// removes one only when every host of the session answered, twice, and
// every holder that lacks the checkpoint has no trace of it (no manifest,
// damaged or not; no directory of a save or commit in progress), no other
// manifest names it as parent, and it is not restorable from replicas. A
// checkpoint that List shows is never touched.

// hostListing is one host's answer to agent.list.
type hostListing struct {
	manifests map[string]*ckpt.Manifest
	damaged   map[string]string // id -> why
	pending   map[string]bool
}

// orphan is a checkpoint that can never be restored or completed.
type orphan struct {
	id       string
	checksum string
	on       []string // hosts holding its manifest
	missing  []string // holders that rolled it back
}

// findOrphans picks, from the listings of every host of a session, the
// checkpoints that are safe to remove.
func findOrphans(lists map[string]hostListing) []orphan {
	byID := map[string]map[string]*ckpt.Manifest{}
	parents := map[string]bool{}
	blocked := map[string]bool{}
	for host, l := range lists {
		for id, m := range l.manifests {
			if byID[id] == nil {
				byID[id] = map[string]*ckpt.Manifest{}
			}
			byID[id][host] = m
			if m.Parent != "" {
				parents[m.Parent] = true
			}
		}
		for id := range l.damaged {
			blocked[id] = true
		}
		for id := range l.pending {
			blocked[id] = true
		}
	}
	var out []orphan
	for id, byHost := range byID {
		if blocked[id] || parents[id] {
			continue
		}
		var m *ckpt.Manifest
		has := map[string]bool{}
		agree := true
		for _, h := range sortedKeys(byHost) {
			if m == nil {
				m = byHost[h]
			}
			if byHost[h].Checksum != m.Checksum {
				agree = false
			}
			has[h] = true
		}
		if !agree || restorable(m, has) {
			continue
		}
		// Every host the checkpoint names must have answered: a host
		// outside the session may hold what this one lacks.
		known := true
		for _, h := range withReplicaHolders(m) {
			if _, ok := lists[h]; !ok {
				known = false
			}
		}
		if !known {
			continue
		}
		o := orphan{id: id, checksum: m.Checksum, on: sortedKeys(byHost)}
		for _, h := range holders(m) {
			if !has[h] {
				o.missing = append(o.missing, h)
			}
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// listAll asks every host of the session for its checkpoints of the VM; any
// failure is an error (an orphan is only judged on a complete picture).
func (s *Session) listAll(ctx context.Context) (map[string]hostListing, error) {
	out, errs := s.listHosts(ctx)
	if len(errs) > 0 {
		var msgs []string
		for _, h := range sortedKeys(errs) {
			msgs = append(msgs, errs[h].Error())
		}
		return nil, fmt.Errorf("%s", strings.Join(msgs, "; "))
	}
	return out, nil
}

// listHosts asks every host of the session, in parallel, for its
// checkpoints of the VM: the listing of every host that answered (less any
// manifest it could not decode), and every host's error.
func (s *Session) listHosts(ctx context.Context) (map[string]hostListing, map[string]error) {
	vm := s.prof.VM.Name
	var mu sync.Mutex
	out := map[string]hostListing{}
	errs := map[string]error{}
	var wg sync.WaitGroup
	for name, h := range s.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var res agentrpc.ListResult
			err := h.call(ctx, agentrpc.List, agentrpc.VMParams{VM: vm}, &res)
			answered := err == nil
			if err != nil {
				err = fmt.Errorf("listing checkpoints on %s: %w", name, err)
			}
			l := hostListing{manifests: map[string]*ckpt.Manifest{}, damaged: map[string]string{}, pending: map[string]bool{}}
			for _, b := range res.Manifests {
				m, derr := ckpt.DecodeManifest(b)
				if derr != nil && err == nil {
					err = fmt.Errorf("a manifest on %s: %w", name, derr)
				}
				if derr == nil {
					l.manifests[m.ID] = m
				}
			}
			for id, why := range res.Damaged {
				l.damaged[id] = why
			}
			for _, id := range res.Pending {
				l.pending[id] = true
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[name] = err
			}
			if answered {
				out[name] = l
			}
		}()
	}
	wg.Wait()
	return out, errs
}

// resolveOrphans removes the orphan manifests of the session's VM (see
// above) and says so; it returns what it removed. Errors only leave orphans
// in place: they are logged, never fatal.
func (s *Session) resolveOrphans(ctx context.Context) []string {
	first, err := s.listAll(ctx)
	if err != nil {
		return nil
	}
	cands := findOrphans(first)
	if len(cands) == 0 {
		return nil
	}
	// A second look, begun after the first ended: a holder that showed
	// nothing because its save had not begun shows it now, or it rolled
	// the checkpoint back for good.
	second, err := s.listAll(ctx)
	if err != nil {
		return nil
	}
	again := map[string]orphan{}
	for _, o := range findOrphans(second) {
		again[o.id] = o
	}
	var removed []string
	for _, c := range cands {
		o, ok := again[c.id]
		if !ok || o.checksum != c.checksum || strings.Join(o.on, ",") != strings.Join(c.on, ",") {
			continue
		}
		var failed []string
		for _, name := range o.on {
			if err := s.hosts[name].call(ctx, agentrpc.Delete, agentrpc.CkptParams{VM: s.prof.VM.Name, ID: o.id}, nil); err != nil {
				failed = append(failed, fmt.Sprintf("%s: %v", name, err))
			}
		}
		msg := fmt.Sprintf("removed checkpoint %s from %s: its commit reached only %s (%s rolled it back), so it was never listed and could not be restored",
			o.id, strings.Join(o.on, ", "), strings.Join(o.on, ", "), strings.Join(o.missing, ", "))
		lvl := api.Warn
		if len(failed) > 0 {
			msg = fmt.Sprintf("could not remove the incomplete checkpoint %s (committed on %s only): %s", o.id, strings.Join(o.on, ", "), strings.Join(failed, "; "))
			lvl = api.Error
		} else {
			removed = append(removed, o.id)
		}
		s.cfg.Logf("%s", msg)
		s.emit(api.Event{Type: api.EvLog, Level: lvl, Message: msg})
	}
	return removed
}
