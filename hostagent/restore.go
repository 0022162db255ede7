package hostagent

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"dcres/agentrpc"
	"dcres/api"
	"dcres/ckpt"
)

// pullParallel is how many pulls one target keeps in flight per source.
const pullParallel = 4

// stopVM stops and drops a VM's state on this host (restore's first step).
func (a *Agent) stopVM(name string) {
	a.mu.Lock()
	v := a.vms[name]
	delete(a.vms, name)
	a.mu.Unlock()
	if v != nil {
		v.close()
	}
}

// load builds a fresh VM state for the restored placement and fills its
// store with the pages homed here: from this host's own piece where it holds
// the authoritative copy, pulled from the source host's piece otherwise.
func (a *Agent) load(ctx context.Context, p agentrpc.LoadParams) (*agentrpc.LoadResult, error) {
	start := time.Now()
	if err := a.introduce(p.Setup.VM, p.Setup.Peers); err != nil {
		return nil, err
	}
	a.stopVM(p.Setup.VM)
	v, err := a.newVM(p.Setup)
	if err != nil {
		return nil, err
	}
	if p.Lazy {
		if v.isMain() {
			v.close()
			return nil, fmt.Errorf("the main host loads its part before the guest starts; lazy loading is for the other homes")
		}
		// Load in the background; the guest will ask for what it needs first.
		// The marks of what was written since the cut are not kept: the
		// loader's own stores would count, so this restore is no base for
		// an incremental checkpoint.
		l := newLazyLoad(v, p)
		lctx, cancel := context.WithCancel(context.Background())
		l.cancel = cancel
		v.lazy = l
		a.mu.Lock()
		a.vms[v.name] = v
		a.mu.Unlock()
		go l.run(lctx)
		return &agentrpc.LoadResult{Seconds: time.Since(start).Seconds()}, nil
	}
	res, err := v.loadPages(ctx, p)
	if err == nil && p.DeviceFrom != nil {
		// This host's copy of the device state is lost: bring the replica.
		d := p.DeviceFrom
		err = v.fetchFile(ctx, d.Host, p.ID, d.File, d.Original, d.Bytes)
	}
	if err != nil {
		v.close()
		return nil, err
	}
	a.mu.Lock()
	a.vms[v.name] = v
	a.mu.Unlock()
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

func (v *vm) loadPages(ctx context.Context, p agentrpc.LoadParams) (*agentrpc.LoadResult, error) {
	var total int64
	for _, s := range p.Sources {
		for _, r := range s.Ranges {
			total += int64(r.Count) * api.PageSize
		}
	}
	prog := v.progress("restore", p.ID, "load")
	prog.setTotal(total)
	var mu sync.Mutex
	res := &agentrpc.LoadResult{}
	put := func(g uint64, page []byte, pulled bool) error {
		if g >= v.npages || v.loc.Home(g) != v.self {
			return fmt.Errorf("page %d is not homed on %s in this placement", g, v.a.cfg.Name)
		}
		mu.Lock()
		v.putHome(g, page)
		res.Pages++
		res.Bytes += api.PageSize
		if pulled {
			res.Pulled += api.PageSize
		}
		mu.Unlock()
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, src := range p.Sources {
		src := src
		if src.Host == v.a.cfg.Name {
			g.Go(func() error { return v.loadLocal(srcID(src, p.ID), src.Of, src.Ranges, put, prog) })
			continue
		}
		// Split the source's ranges into bounded batches pulled in parallel.
		batches := make(chan []api.Range)
		g.Go(func() error {
			defer close(batches)
			for _, b := range batchRanges(src.Ranges, agentrpc.MaxPagesPerCall) {
				select {
				case batches <- b:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
		for i := 0; i < pullParallel; i++ {
			g.Go(func() error {
				for b := range batches {
					if err := v.pull(gctx, src.Host, srcID(src, p.ID), src.Of, b, put, prog); err != nil {
						return err
					}
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// The restored checkpoint is the cut the next incremental one builds on.
	v.store.TakeWritten()
	v.store.TakeEpoch()
	v.mu.Lock()
	v.base = p.ID
	v.mu.Unlock()
	prog.finish()
	return res, nil
}

func srcID(s agentrpc.Source, restored string) string {
	if s.ID != "" {
		return s.ID
	}
	return restored
}

func (v *vm) loadLocal(id, of string, ranges []api.Range, put func(uint64, []byte, bool) error, prog *progress) error {
	for _, rg := range ranges {
		prog.add(int64(rg.Count) * api.PageSize)
	}
	return v.a.eachPage(v.name, id, of, ranges, func(g uint64, page []byte) error {
		return put(g, page, false)
	})
}

// pull fetches the non-zero pages of ranges from host's piece.
func (v *vm) pull(ctx context.Context, host, id, of string, ranges []api.Range, put func(uint64, []byte, bool) error, prog *progress) error {
	var res agentrpc.PieceResult
	data, err := v.a.peerPool.call(ctx, host, agentrpc.PeerPiece, agentrpc.PieceParams{VM: v.name, ID: id, Of: of, Ranges: ranges}, nil, &res)
	if err != nil {
		return err
	}
	off := 0
	for _, run := range res.Runs {
		for g := run.Start; g < run.Start+run.Count; g++ {
			if off+api.PageSize > len(data) {
				return fmt.Errorf("pull from %s: payload shorter than its runs say", host)
			}
			if err := put(g, data[off:off+api.PageSize], true); err != nil {
				return err
			}
			off += api.PageSize
		}
	}
	if off != len(data) {
		return fmt.Errorf("pull from %s: %d bytes beyond its runs", host, len(data)-off)
	}
	var n int64
	for _, r := range ranges {
		n += int64(r.Count) * api.PageSize
	}
	prog.addPulled(n, int64(len(data)))
	return nil
}

// servePiece reads the non-zero pages of ranges from this host's piece.
func (a *Agent) servePiece(p agentrpc.PieceParams) (*agentrpc.PieceResult, []byte, error) {
	var pages uint64
	for _, r := range p.Ranges {
		pages += r.Count
	}
	if pages > agentrpc.MaxPagesPerCall {
		return nil, nil, fmt.Errorf("%d pages asked in one call; at most %d", pages, agentrpc.MaxPagesPerCall)
	}
	// The last copy of each page wins; zero pages are left out (the
	// target's store is zero).
	latest := map[uint64][]byte{}
	err := a.eachPage(p.VM, p.ID, p.Of, p.Ranges, func(g uint64, page []byte) error {
		latest[g] = append(latest[g][:0], page...)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	gfns := make([]uint64, 0, len(latest))
	for g, page := range latest {
		if !isZero(page) {
			gfns = append(gfns, g)
		}
	}
	sort.Slice(gfns, func(i, j int) bool { return gfns[i] < gfns[j] })
	res := &agentrpc.PieceResult{}
	data := make([]byte, 0, len(gfns)*api.PageSize)
	for _, g := range gfns {
		res.Runs = addToRuns(res.Runs, g, a.cfg.Name)
		data = append(data, latest[g]...)
	}
	return res, data, nil
}

// start rebuilds the guest on the main host from the loaded homes and the
// checkpoint's device state (or, for qemu-stream, its stream), and runs it.
func (v *vm) start(ctx context.Context, p agentrpc.StartParams) error {
	m, err := ckpt.DecodeManifest(p.Manifest)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if m.DeviceState == nil {
		return fmt.Errorf("checkpoint %s has no device state", p.ID)
	}
	path, err := v.a.store.Path(v.name, p.ID, m.DeviceState.File)
	if err != nil {
		return err
	}
	digest, _, err := ckpt.HashFile(path)
	if err != nil {
		return err
	}
	if digest != m.DeviceState.Digest {
		return fmt.Errorf("device state %s: digest %s, manifest says %s (damaged; the guest stays stopped)", path, digest, m.DeviceState.Digest)
	}
	return v.run(ctx, path)
}

// piecesOf lists host's pieces of m in the order they were written (a live
// checkpoint's rounds): a later piece's copy of a page wins.
func piecesOf(m *ckpt.Manifest, host string) []string {
	var out []string
	for _, p := range m.Pieces {
		if p.Host == host {
			out = append(out, p.File)
		}
	}
	return out
}

// eachPage calls fn for every page of ranges in this host's pieces of
// checkpoint vm/id, piece by piece in order, so the last call for a gfn
// carries its authoritative copy. Pages all zero in the first piece are
// left out (a fresh store is zero).
//
// With of set (another host, lost), the pages come from this host's
// replicas of of's pieces.
func (a *Agent) eachPage(vm, id, of string, ranges []api.Range, fn func(g uint64, page []byte) error) error {
	m, err := a.store.Load(vm, id)
	if err != nil {
		return err
	}
	files := piecesOf(m, a.cfg.Name)
	if of != "" && of != a.cfg.Name {
		files = nil
		for _, f := range piecesOf(m, of) {
			files = append(files, replicaName(of, f))
		}
	}
	for i, file := range files {
		path, err := a.store.Path(vm, id, file)
		if err != nil {
			return err
		}
		r, err := ckpt.OpenPiece(path)
		if err != nil {
			return err
		}
		err = r.EachIn(ranges, func(g uint64, page []byte) error {
			if i == 0 && isZero(page) {
				return nil
			}
			return fn(g, page)
		})
		r.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// batchRanges cuts ranges into groups of at most max pages.
func batchRanges(rs []api.Range, max uint64) [][]api.Range {
	var out [][]api.Range
	var cur []api.Range
	var n uint64
	for _, r := range rs {
		for r.Count > 0 {
			take := min(r.Count, max-n)
			cur = append(cur, api.Range{Start: r.Start, Count: take, Host: r.Host})
			n += take
			r.Start += take
			r.Count -= take
			if n == max {
				out = append(out, cur)
				cur, n = nil, 0
			}
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
