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
)

// Redundancy health and repair. Every piece and device state of a
// checkpoint is a file of one host (its original) with copies on other hosts
// (replicas). A copy is good when its holder answers, has the checkpoint's
// manifest and its verify finds no fault in that file.

// fileCopy is one copy of a checkpoint file: the host holding it, its name
// there, and what it must match (a piece's digest, or the file's hash).
type fileCopy struct {
	host, file string
	digest     string
	bytes      int64
	piece      bool
}

// ckptFile is one host's file of a checkpoint and its copies, the original
// first.
type ckptFile struct {
	of, file string
	copies   []fileCopy
	// shard is set for a parity shard (of is its holder).
	shard *ckpt.ParityShard
}

func ckptFiles(m *ckpt.Manifest) []ckptFile {
	var out []ckptFile
	at := map[[2]string]int{}
	add := func(of, file string, c fileCopy) {
		k := [2]string{of, file}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, ckptFile{of: of, file: file})
		}
		out[i].copies = append(out[i].copies, c)
	}
	for _, p := range m.Pieces {
		add(p.Host, p.File, fileCopy{host: p.Host, file: p.File, digest: p.Digest, bytes: p.Bytes, piece: true})
	}
	if d := m.DeviceState; d != nil {
		add(d.Host, d.File, fileCopy{host: d.Host, file: d.File, digest: d.Digest, bytes: d.Bytes})
	}
	for _, r := range m.Replicas {
		if _, ok := at[[2]string{r.Of, r.Original}]; ok {
			add(r.Of, r.Original, fileCopy{host: r.Host, file: r.File, digest: r.Digest, bytes: r.Bytes})
		}
	}
	if p := m.Parity; p != nil {
		for i := range p.Shards {
			sh := &p.Shards[i]
			add(sh.Host, sh.File, fileCopy{host: sh.Host, file: sh.File, digest: sh.Digest, bytes: sh.Bytes})
			out[len(out)-1].shard = sh
		}
	}
	return out
}

// wantCopies is how many good copies every file of m should have: the
// manifest's Copies, else one more than the fewest replicas of any file.
func wantCopies(m *ckpt.Manifest, files []ckptFile) int {
	if m.Copies > 0 {
		return m.Copies
	}
	want := 0
	for i, f := range files {
		if i == 0 || len(f.copies) < want {
			want = len(f.copies)
		}
	}
	return max(want, 1)
}

// health reports every file of m with its good and lost copies; has says
// which hosts have m, bad[host][file] which files verify found faulty.
func health(m *ckpt.Manifest, has map[string]bool, bad map[string]map[string]bool) []api.FileHealth {
	files := ckptFiles(m)
	want := wantCopies(m, files)
	var out []api.FileHealth
	for _, f := range files {
		fh := api.FileHealth{Checkpoint: m.ID, Of: f.of, File: f.file, Want: want}
		for _, c := range f.copies {
			if has[c.host] && !bad[c.host][c.file] {
				fh.Good++
				fh.Copies = append(fh.Copies, c.host)
			} else {
				fh.Lost = append(fh.Lost, c.host)
			}
		}
		out = append(out, fh)
	}
	return out
}

// unhealthy counts the files with fewer good copies than they want.
func unhealthy(hs []api.FileHealth) int {
	n := 0
	for _, h := range hs {
		if h.Good < h.Want {
			n++
		}
	}
	return n
}

// verifyHolders runs verify on every host in hosts that has m and returns
// the faults and, per host, the names of its faulty files.
func (s *Session) verifyHolders(ctx context.Context, m *ckpt.Manifest, hosts []string, has map[string]bool) ([]string, map[string]map[string]bool, error) {
	var mu sync.Mutex
	var faults []string
	bad := map[string]map[string]bool{}
	g, gctx := errgroup.WithContext(ctx)
	for _, name := range hosts {
		if !has[name] {
			continue
		}
		h, err := s.host(name)
		if err != nil {
			return nil, nil, err
		}
		g.Go(func() error {
			var res agentrpc.VerifyResult
			if err := h.call(gctx, agentrpc.VerifyPiece, agentrpc.CkptParams{VM: m.VM, ID: m.ID}, &res); err != nil {
				return fmt.Errorf("verify on %s: %w", name, err)
			}
			mu.Lock()
			defer mu.Unlock()
			faults = append(faults, res.Faults...)
			for _, f := range res.Bad {
				if bad[name] == nil {
					bad[name] = map[string]bool{}
				}
				bad[name][f] = true
			}
			return nil
		})
	}
	err := g.Wait()
	return faults, bad, err
}

// repairJob copies one good copy of a file to a host, or (rebuild set)
// has the host rebuild files from parity.
type repairJob struct {
	to    fileCopy // where, under what name, matching what
	from  fileCopy
	added *ckpt.Replica // set when the copy is a new replica
	// Parity: what to rebuild, and the new replicas (by original name)
	// when the files go to another host than theirs.
	rebuild *agentrpc.RebuildParams
	adds    map[string]*ckpt.Replica
}

// Repair rebuilds the lost or damaged copies of checkpoint id's files from
// good ones: in place on every host that answers, or, with onto set, only
// on that host, where a file whose copies are fewer than its redundancy
// asks gets a new replica (recorded in the manifest on every host).
//
// With parity, a file with no good copy left is rebuilt from the other
// hosts' files and the parity shards (all of its host's lost files in one
// pass), and a lost parity shard is encoded again on its holder.
func (s *Session) Repair(ctx context.Context, id, onto string) (*api.RepairResult, error) {
	s.op.Lock()
	defer s.op.Unlock()
	m, err := s.resolve(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.repair(ctx, m, onto)
}

func (s *Session) repair(ctx context.Context, m *ckpt.Manifest, onto string) (*api.RepairResult, error) {
	start := time.Now()
	if onto != "" && s.hosts[onto] == nil {
		return nil, fmt.Errorf("repair onto %s: no such host in this session", onto)
	}
	alive := s.alive(ctx)
	if onto != "" && !alive[onto] {
		return nil, fmt.Errorf("repair onto %s: the host does not answer", onto)
	}
	has := s.hasAlive(m.ID, alive)
	_, bad, err := s.verifyHolders(ctx, m, withReplicaHolders(m), has)
	if err != nil {
		return nil, err
	}
	files := ckptFiles(m)
	want := wantCopies(m, files)
	good := func(c fileCopy) bool { return has[c.host] && !bad[c.host][c.file] }
	var jobs []repairJob
	var stuck []string
	fromParity := map[string][]string{} // host -> its files to rebuild from parity
	for _, f := range files {
		var src *fileCopy
		n := 0
		for i, c := range f.copies {
			if good(c) {
				n++
				if src == nil {
					src = &f.copies[i]
				}
			}
		}
		if src == nil {
			switch {
			case f.shard != nil && alive[f.of] && (onto == "" || onto == f.of):
				jobs = append(jobs, repairJob{to: fileCopy{host: f.of, file: f.file},
					rebuild: &agentrpc.RebuildParams{Group: f.shard.Group, Index: f.shard.Index}})
			case f.shard != nil:
				stuck = append(stuck, fmt.Sprintf("parity shard %s on %s is lost and is encoded again only there, once it answers", f.file, f.of))
			case m.Parity != nil && m.Parity.Stream(f.of) != nil:
				fromParity[f.of] = append(fromParity[f.of], f.file)
			default:
				stuck = append(stuck, fmt.Sprintf("%s's %s has no good copy left", f.of, f.file))
			}
			continue
		}
		held := map[string]bool{}
		for _, c := range f.copies {
			held[c.host] = true
			if !good(c) && alive[c.host] && (onto == "" || onto == c.host) {
				jobs = append(jobs, repairJob{to: c, from: *src})
				n++
			}
		}
		if n >= want {
			continue
		}
		if onto == "" || held[onto] {
			stuck = append(stuck, fmt.Sprintf("%s's %s has %d of %d good copies; rebuild the others in place (repair without --onto, once their hosts answer) or on another host with --onto HOST", f.of, f.file, n, want))
			continue
		}
		// A new replica of the file on onto.
		name := replicaName(f.of, f.file)
		rep := &ckpt.Replica{Of: f.of, Original: f.file, FileRef: ckpt.FileRef{Host: onto, File: name}}
		// Checked as its source is (a piece's digest, or the file's hash).
		to := fileCopy{host: onto, file: name, digest: src.digest, bytes: src.bytes, piece: src.piece}
		jobs = append(jobs, repairJob{to: to, from: *src, added: rep})
	}
	for _, of := range sortedKeys(fromParity) {
		target := ""
		switch {
		case alive[of] && (onto == "" || onto == of):
			target = of
		case onto != "":
			target = onto
		default:
			stuck = append(stuck, fmt.Sprintf("%s's files %v have no good copy and its host does not answer: rebuild them from parity on another host with --onto HOST", of, fromParity[of]))
			continue
		}
		j := repairJob{to: fileCopy{host: target}, rebuild: &agentrpc.RebuildParams{Of: of, Names: map[string]string{}}, adds: map[string]*ckpt.Replica{}}
		for _, f := range fromParity[of] {
			name := f
			if target != of {
				name = replicaName(of, f)
				j.adds[f] = &ckpt.Replica{Of: of, Original: f, FileRef: ckpt.FileRef{Host: target, File: name}}
			}
			j.rebuild.Names[f] = name
		}
		jobs = append(jobs, j)
	}
	// Hosts a rebuild must not read from: gone, or with a bad file.
	var lostHosts []string
	for _, h := range m.Hosts {
		if !has[h] || len(bad[h]) > 0 {
			lostHosts = append(lostHosts, h)
		}
	}
	mb, err := ckpt.EncodeManifest(m)
	if err != nil {
		return nil, err
	}
	if len(stuck) > 0 && len(jobs) == 0 {
		return nil, fmt.Errorf("repair of %s: nothing can be rebuilt: %s", m.ID, strings.Join(stuck, "; "))
	}
	if err := s.introduceAll(ctx, m.VM, alive); err != nil {
		return nil, err
	}
	res := &api.RepairResult{Checkpoint: m.ID}
	s.emit(api.Event{Type: api.EvOpStart, Op: "repair", ID: m.ID, Message: fmt.Sprintf("repair of %s: %d copies to rebuild", m.ID, len(jobs))})
	var mu sync.Mutex
	failed := map[string]bool{} // hosts where a copy could not be rebuilt
	var errs []string
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := range jobs {
		j := &jobs[i]
		h, err := s.host(j.to.host)
		if err != nil {
			return nil, err
		}
		if j.rebuild != nil {
			g.Go(func() error {
				p := *j.rebuild
				p.VM, p.ID, p.Lost, p.Manifest = m.VM, m.ID, lostHosts, mb
				var out agentrpc.RebuildResult
				err := h.callFor(gctx, agentrpc.Rebuild, p, &out, 30*time.Minute)
				mu.Lock()
				defer mu.Unlock()
				what := m0name(p)
				if err != nil {
					failed[j.to.host] = true
					errs = append(errs, fmt.Sprintf("%s: rebuilding %s from parity: %v", j.to.host, what, err))
					return nil
				}
				for f, fr := range out.Files {
					if r := j.adds[f]; r != nil {
						r.Digest, r.Bytes = fr.Digest, fr.Bytes
					}
					res.Bytes += fr.Bytes
				}
				how := "rebuilt from parity"
				if p.Of == "" {
					how = "encoded again from the data"
				}
				res.Rebuilt = append(res.Rebuilt, fmt.Sprintf("%s: %s %s (%s fetched)", j.to.host, what, how, fmtBytes(out.Fetched)))
				s.emit(api.Event{Type: api.EvLog, Level: api.Info, Host: j.to.host, Message: fmt.Sprintf("repair of %s: %s rebuilt on %s from parity", m.ID, what, j.to.host)})
				return nil
			})
			continue
		}
		g.Go(func() error {
			p := agentrpc.RepairFileParams{VM: m.VM, ID: m.ID, From: j.from.host, FromFile: j.from.file, File: j.to.file,
				Bytes: j.to.bytes, Digest: j.to.digest, Piece: j.to.piece}
			var out agentrpc.RepairFileResult
			err := h.callFor(gctx, agentrpc.RepairFile, p, &out, 30*time.Minute)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed[j.to.host] = true
				errs = append(errs, fmt.Sprintf("%s: %s from %s: %v", j.to.host, j.to.file, j.from.host, err))
				return nil
			}
			if j.added != nil {
				j.added.Digest, j.added.Bytes = out.Digest, out.Bytes
			}
			res.Bytes += out.Bytes
			res.Rebuilt = append(res.Rebuilt, fmt.Sprintf("%s: %s from %s", j.to.host, j.to.file, j.from.host))
			s.emit(api.Event{Type: api.EvLog, Level: api.Info, Host: j.to.host, Message: fmt.Sprintf("repair of %s: %s rebuilt on %s from %s", m.ID, j.to.file, j.to.host, j.from.host)})
			return nil
		})
	}
	_ = g.Wait()
	// The manifest: new replicas recorded, and written wherever a host's
	// files are whole again but its manifest is missing.
	nm := *m
	nm.Replicas = append([]ckpt.Replica(nil), m.Replicas...)
	for _, j := range jobs {
		if j.added != nil && !failed[j.to.host] && j.added.Digest != "" {
			nm.Replicas = append(nm.Replicas, *j.added)
			nm.Copies = want
		}
		for _, f := range sortedKeys(j.adds) {
			if r := j.adds[f]; !failed[j.to.host] && r.Digest != "" {
				nm.Replicas = append(nm.Replicas, *r)
				nm.Copies = want
			}
		}
	}
	targets := map[string]bool{}
	if len(nm.Replicas) != len(m.Replicas) {
		for _, h := range withReplicaHolders(&nm) {
			if alive[h] {
				targets[h] = true
			}
		}
	}
	for _, j := range jobs {
		if !has[j.to.host] {
			targets[j.to.host] = true
		}
	}
	for h := range failed {
		if !has[h] {
			delete(targets, h) // its files are not whole: no manifest there
		}
	}
	if len(targets) > 0 {
		b, err := ckpt.EncodeManifest(&nm)
		if err != nil {
			return nil, err
		}
		for _, name := range sortedKeys(targets) {
			h, err := s.host(name)
			if err != nil {
				return nil, err
			}
			if err := h.call(ctx, agentrpc.Amend, agentrpc.AmendParams{VM: m.VM, ID: m.ID, Manifest: json.RawMessage(b)}, nil); err != nil {
				errs = append(errs, fmt.Sprintf("%s: writing the manifest: %v", name, err))
			}
		}
	}
	// Health now.
	if _, err := s.manifests(ctx); err != nil {
		return nil, err
	}
	if m2, err := s.resolve(ctx, m.ID); err == nil {
		m = m2
	}
	has = s.hasAlive(m.ID, alive)
	_, bad, err = s.verifyHolders(ctx, m, withReplicaHolders(m), has)
	if err != nil {
		return nil, err
	}
	res.Redundancy = health(m, has, bad)
	res.Seconds = time.Since(start).Seconds()
	sort.Strings(res.Rebuilt)
	errs = append(errs, stuck...)
	lvl, msg := api.Info, fmt.Sprintf("repair of %s: %d copies rebuilt (%s) in %.2fs; every file has its copies", m.ID, len(res.Rebuilt), fmtBytes(res.Bytes), res.Seconds)
	if n := unhealthy(res.Redundancy); n > 0 || len(errs) > 0 {
		lvl, msg = api.Error, fmt.Sprintf("repair of %s: %d copies rebuilt; %d files still lack copies: %s", m.ID, len(res.Rebuilt), n, strings.Join(errs, "; "))
	}
	s.emit(api.Event{Type: api.EvOpDone, Op: "repair", ID: m.ID, Level: lvl, Message: msg})
	if lvl == api.Error {
		return res, fmt.Errorf("%s", msg)
	}
	return res, nil
}

// hasAlive is which hosts have checkpoint id (its manifest, as last listed)
// and answer.
func (s *Session) hasAlive(id string, alive map[string]bool) map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for h, ok := range s.have[id] {
		out[h] = ok && alive[h]
	}
	return out
}

// replicaName is what a holder calls its copy of host of's file (as the
// agents name it).
func replicaName(of, file string) string { return "replica-" + of + "-" + file }

func m0name(p agentrpc.RebuildParams) string {
	if p.Of != "" {
		names := make([]string, 0, len(p.Names))
		for f := range p.Names {
			names = append(names, f)
		}
		sort.Strings(names)
		return fmt.Sprintf("%s's %s", p.Of, strings.Join(names, ", "))
	}
	return ckpt.ParityFile(p.Group, p.Index)
}
