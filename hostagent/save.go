package hostagent

import (
	"context"
	"fmt"
	"os"
	"time"

	"dcres/agentrpc"
	"dcres/api"
	"dcres/ckpt"
	"dcres/pager"
)

// pieceFile names a host's piece in a checkpoint directory; a live
// checkpoint has one per round.
func pieceFile(host string, live bool, round int) string {
	if live {
		return fmt.Sprintf("piece-%s-r%d.dcp", host, round)
	}
	return "piece-" + host + ".dcp"
}

// deviceStateFile names the main host's device state.
const deviceStateFile = "device-state.bin"

// save writes this host's piece of a checkpoint under a partial name. For
// method dcres every host saves the pages it is home for, and the main host
// also the dirty pages of its cache (which win over their homes' copies);
// nothing crosses the network. For method traditional the main host gathers
// every page over the peer links and saves one image.
func (v *vm) save(ctx context.Context, p agentrpc.SaveParams) (*agentrpc.SaveResult, error) {
	start := time.Now()
	if err := ckpt.ValidName("checkpoint id", p.ID); err != nil {
		return nil, err
	}
	if p.Method == "qemu-stream" {
		return v.saveStream(ctx, p, start)
	}
	prog := v.progress("checkpoint", p.ID, "save")
	if p.Live {
		prog.p.Phase = "final pause"
	}
	res := &agentrpc.SaveResult{}
	piece, err := v.writePiece(p.ID, pieceFile(v.a.cfg.Name, p.Live, p.Round), func(w *ckpt.PieceWriter) error {
		var err error
		switch p.Method {
		case "dcres":
			if err := v.syncWrites(ctx); err != nil && (p.Live || p.Incremental) {
				return err
			}
			// The cut: pages written since the last one are this checkpoint's
			// increment; kept until commit, so a failed checkpoint gives them back.
			epoch := v.store.TakeEpoch()
			v.keepEpoch(p.ID, epoch)
			runs := v.homeRuns()
			switch {
			case p.Live:
				// What changed since the last pre-copy round saved it.
				runs = v.store.TakeWritten()
			case p.Incremental:
				runs = epoch
			}
			res.Overrides, err = v.saveRuns(ctx, w, runs, true, prog)
			if p.Incremental {
				res.Contains = toRanges(runs, v.a.cfg.Name)
			}
		case "traditional":
			if !v.isMain() {
				return fmt.Errorf("traditional checkpoints are saved by the main host alone")
			}
			v.syncWrites(ctx) // marks for a later increment; this image is whole either way
			v.keepEpoch(p.ID, v.store.TakeEpoch())
			res.BytesOverNetwork, err = v.saveGathered(ctx, w, prog)
		default:
			err = fmt.Errorf("method %q is not known (dcres, traditional, qemu-stream)", p.Method)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	prog.finish()
	res.Piece = piece
	if v.isMain() {
		ds, err := v.saveDeviceState(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		res.DeviceState = ds
	}
	res.Seconds = time.Since(start).Seconds()
	v.mu.Lock()
	res.Base = v.base
	v.mu.Unlock()
	return res, nil
}

// round is one pre-copy round of a live checkpoint, while the guest runs:
// round 0 saves every page homed here, later rounds the pages written since
// the round before. The written marks are taken before the pages are read,
// and a write marks its page only after it changed it, so a page changed
// while a round copies it is always saved again later.
func (v *vm) round(ctx context.Context, p agentrpc.SaveParams) (*agentrpc.SaveResult, error) {
	start := time.Now()
	if err := ckpt.ValidName("checkpoint id", p.ID); err != nil {
		return nil, err
	}
	if err := v.syncWrites(ctx); err != nil {
		return nil, err
	}
	prog := v.progress("checkpoint", p.ID, fmt.Sprintf("round %d", p.Round+1))
	runs := v.store.TakeWritten()
	if p.Round == 0 {
		runs = v.homeRuns()
		if p.Incremental {
			// Pages written from here on are caught by the rounds' marks;
			// what was written before is the increment's base.
			epoch := v.store.TakeEpoch()
			v.keepEpoch(p.ID, epoch)
			runs = epoch
		}
	}
	piece, err := v.writePiece(p.ID, pieceFile(v.a.cfg.Name, true, p.Round), func(w *ckpt.PieceWriter) error {
		_, err := v.saveRuns(ctx, w, runs, false, prog)
		return err
	})
	if err != nil {
		return nil, err
	}
	prog.finish()
	dirty := v.store.WrittenCount()
	if v.guest != nil {
		dirty += v.guest.unsyncedPages()
	}
	res := &agentrpc.SaveResult{Piece: piece, Dirty: int64(dirty) * api.PageSize, Seconds: time.Since(start).Seconds()}
	if p.Incremental {
		res.Contains = toRanges(runs, v.a.cfg.Name)
	}
	return res, nil
}

// writePiece writes one piece file under its partial name with write, and
// describes it for the manifest; on any error the file is gone.
func (v *vm) writePiece(id, file string, write func(w *ckpt.PieceWriter) error) (*ckpt.PieceRef, error) {
	return v.a.writePiece(v.name, id, file, write)
}

func (a *Agent) writePiece(vmName, id, file string, write func(w *ckpt.PieceWriter) error) (*ckpt.PieceRef, error) {
	path, err := a.store.PartialPath(vmName, id, file)
	if err != nil {
		return nil, err
	}
	w, err := ckpt.CreatePiece(path, ckpt.PieceOptions{Host: a.cfg.Name, VM: vmName, CheckpointID: id})
	if err != nil {
		return nil, err
	}
	if err := write(w); err != nil {
		w.Abort()
		return nil, err
	}
	info, err := w.Close()
	if err != nil {
		return nil, err
	}
	return &ckpt.PieceRef{Host: a.cfg.Name, File: file, Pages: info.Pages, ZeroPages: info.ZeroPages, Bytes: info.Bytes, Digest: info.Digest}, nil
}

// syncWrites brings this host's written marks up to date (see guest).
func (v *vm) syncWrites(ctx context.Context) error {
	if v.guest == nil {
		return nil
	}
	return v.guest.syncWrites(ctx)
}

// saveRuns writes the pages of runs held here and, with overrides on the
// main host, its dirty cached pages (which win over their homes' copies),
// merged in gfn order. Nothing crosses the network.
func (v *vm) saveRuns(ctx context.Context, w *ckpt.PieceWriter, runs []pager.Run, overrides bool, prog *progress) ([]api.Range, error) {
	var dirty []uint64
	if v.guest != nil && overrides {
		dirty = v.guest.dirtyCached()
	}
	var total int64
	for _, r := range runs {
		total += int64(r.Count) * api.PageSize
	}
	total += int64(len(dirty)) * api.PageSize
	prog.setTotal(total)

	var over []api.Range
	di := 0
	emitDirtyBefore := func(limit uint64) error {
		for di < len(dirty) && dirty[di] < limit {
			g := dirty[di]
			if err := w.WritePage(g, v.guest.cachedPage(g)); err != nil {
				return err
			}
			over = addToRuns(over, g, v.a.cfg.Name)
			prog.add(api.PageSize)
			di++
		}
		return nil
	}
	for _, r := range runs {
		for g := r.Start; g < r.Start+r.Count; g++ {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err := emitDirtyBefore(g); err != nil {
				return nil, err
			}
			page := v.homePage(g)
			if di < len(dirty) && dirty[di] == g {
				// Homed here and dirty in this host's cache too (a QEMU node
				// only partly homed here): the cached copy is the newer one.
				page = v.guest.cachedPage(g)
				di++
			}
			if err := w.WritePage(g, page); err != nil {
				return nil, err
			}
			prog.add(api.PageSize)
		}
	}
	if err := emitDirtyBefore(v.npages); err != nil {
		return nil, err
	}
	return over, nil
}

// saveGathered is the traditional method: every page comes to the main host
// (remote ones over the peer links, batch by batch) and is saved here.
func (v *vm) saveGathered(ctx context.Context, w *ckpt.PieceWriter, prog *progress) (int64, error) {
	prog.setTotal(int64(v.npages) * api.PageSize)
	dirty := map[uint64]bool{}
	for _, g := range v.guest.dirtyCached() {
		dirty[g] = true
	}
	var overNet int64
	buf := make([]byte, agentrpc.MaxPagesPerCall*api.PageSize)
	for _, r := range v.loc.Ranges() {
		host := v.hostIndex(r.Host)
		for g := r.Start; g < r.Start+r.Count; {
			n := min(uint64(agentrpc.MaxPagesPerCall), r.Start+r.Count-g)
			chunk := buf[:n*api.PageSize]
			if host == v.self {
				for i := uint64(0); i < n; i++ {
					copy(chunk[i*api.PageSize:(i+1)*api.PageSize], v.homePage(g+i))
				}
			} else {
				if err := v.fetch(ctx, host, g, chunk); err != nil {
					return overNet, err
				}
				overNet += int64(len(chunk))
			}
			for i := uint64(0); i < n; i++ {
				page := chunk[i*api.PageSize : (i+1)*api.PageSize]
				if dirty[g+i] {
					page = v.guest.cachedPage(g + i)
				}
				if err := w.WritePage(g+i, page); err != nil {
					return overNet, err
				}
			}
			prog.add(int64(len(chunk)))
			g += n
		}
	}
	return overNet, nil
}

func (v *vm) saveDeviceState(ctx context.Context, id string) (*ckpt.FileRef, error) {
	path, err := v.a.store.PartialPath(v.name, id, deviceStateFile)
	if err != nil {
		return nil, err
	}
	if err := v.guest.saveDeviceState(ctx, path); err != nil {
		return nil, err
	}
	return fileRef(v.a.cfg.Name, path, deviceStateFile)
}

// saveStream is method qemu-stream: the main host's QEMU writes its own full
// migration stream, fetching remote memory as it goes; no piece is written.
func (v *vm) saveStream(ctx context.Context, p agentrpc.SaveParams, start time.Time) (*agentrpc.SaveResult, error) {
	if !v.isMain() {
		return nil, fmt.Errorf("qemu-stream checkpoints are saved by the main host alone")
	}
	path, err := v.a.store.PartialPath(v.name, p.ID, streamFile)
	if err != nil {
		return nil, err
	}
	fetched, err := v.guest.saveStream(ctx, path)
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	ref, err := fileRef(v.a.cfg.Name, path, streamFile)
	if err != nil {
		return nil, err
	}
	return &agentrpc.SaveResult{DeviceState: ref, BytesOverNetwork: fetched, Seconds: time.Since(start).Seconds()}, nil
}

// streamFile names the qemu-stream method's image on the main host.
const streamFile = "stream.qemu"

func fileRef(host, path, name string) (*ckpt.FileRef, error) {
	digest, n, err := ckpt.HashFile(path)
	if err != nil {
		return nil, err
	}
	return &ckpt.FileRef{Host: host, File: name, Bytes: n, Digest: digest}, nil
}

func (v *vm) hostIndex(name string) int {
	for i, h := range v.setup.Hosts {
		if h == name {
			return i
		}
	}
	return -1
}

// addToRuns appends gfn g to runs, extending the last run when consecutive.
func addToRuns(runs []api.Range, g uint64, host string) []api.Range {
	if n := len(runs); n > 0 && runs[n-1].Start+runs[n-1].Count == g {
		runs[n-1].Count++
		return runs
	}
	return append(runs, api.Range{Start: g, Count: 1, Host: host})
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// keepEpoch holds the pages a checkpoint took as written since the last cut
// until it commits (then the cut is the new base) or fails (then they are
// marked again, for the next checkpoint).
func (v *vm) keepEpoch(id string, runs []pager.Run) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.epochs == nil {
		v.epochs = map[string][]pager.Run{}
	}
	v.epochs[id] = append(v.epochs[id], runs...)
}

// endEpoch settles a checkpoint's kept pages: committed drops them, else
// they are marked written since the cut again.
func (v *vm) endEpoch(id string, committed bool) {
	v.mu.Lock()
	runs, took := v.epochs[id]
	delete(v.epochs, id)
	if committed && took {
		// This checkpoint's cut is where the marks now start.
		v.base = id
	}
	v.mu.Unlock()
	if !committed {
		v.store.RestoreEpoch(runs)
	}
}

func toRanges(runs []pager.Run, host string) []api.Range {
	out := make([]api.Range, 0, len(runs))
	for _, r := range runs {
		if r.Count > 0 {
			out = append(out, api.Range{Start: r.Start, Count: r.Count, Host: host})
		}
	}
	return out
}
