package hostagent

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/klauspost/reedsolomon"

	"dcres/agentrpc"
	"dcres/api"
	"dcres/ckpt"
)

// Parity: after every host saved its files (and the guest runs again),
// each host streams its files, cut into segments, in chunks to the holders
// of each group's parity, which add every chunk to their parity shard as it
// arrives (Reed-Solomon EncodeIdx) and store only parity: no host gathers
// another's pages. A lost host's files are rebuilt from the other hosts'
// streams and the parity shards.

// parityChunk is the size of one parity message and of one rebuild step.
const parityChunk = 4 << 20

// protectParity streams this host's partial files of p.ID to the parity
// holders of every group it has data in.
func (v *vm) protectParity(ctx context.Context, p agentrpc.ProtectParams) (*agentrpc.ProtectResult, error) {
	files, err := v.ownPartials(p.ID)
	if err != nil {
		return nil, err
	}
	st := &ckpt.ParityStream{Host: v.a.cfg.Name, Files: files}
	var paths []string
	var sizes []int64
	for _, f := range files {
		path, err := v.a.store.PartialPath(v.name, p.ID, f)
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		paths, sizes = append(paths, path), append(sizes, fi.Size())
		st.Bytes += fi.Size()
	}
	par := p.Parity
	res := &agentrpc.ProtectResult{Stream: st}
	buf := make([]byte, parityChunk)
	for _, seg := range par.Segments(v.a.cfg.Name, st.Bytes) {
		holders := par.Holders(seg.Group)
		for o := int64(0); ; {
			n := min(int64(parityChunk), seg.Length-o)
			if err := readSpan(paths, sizes, seg.Offset+o, buf[:n]); err != nil {
				return nil, err
			}
			last := o+n >= seg.Length
			for j, h := range holders {
				var shard *ckpt.ParityShard
				_, err := v.a.peerPool.call(ctx, h, agentrpc.PeerParity, agentrpc.ParityParams{VM: v.name, ID: p.ID, Group: seg.Group, Index: j,
					Data: par.Data, Parity: par.Parity, Idx: seg.Idx, Offset: o, Last: last}, buf[:n], &shard)
				if err != nil {
					return nil, fmt.Errorf("parity of group %d to %s: %w", seg.Group, h, err)
				}
				res.Bytes += n
				if shard != nil {
					res.Shards = append(res.Shards, *shard)
				}
			}
			o += n
			if last {
				break
			}
		}
	}
	return res, nil
}

// readSpan reads len(b) bytes at off of the concatenation of files.
func readSpan(paths []string, sizes []int64, off int64, b []byte) error {
	for i, path := range paths {
		if len(b) == 0 {
			return nil
		}
		if off >= sizes[i] {
			off -= sizes[i]
			continue
		}
		n := min(int64(len(b)), sizes[i]-off)
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		_, err = f.ReadAt(b[:n], off)
		f.Close()
		if err != nil && err != io.EOF {
			return err
		}
		b, off = b[n:], 0
	}
	if len(b) > 0 {
		return fmt.Errorf("stream of %d files ends %d bytes early", len(paths), len(b))
	}
	return nil
}

// parityAcc is a holder's parity shard being accumulated.
type parityAcc struct {
	mu   sync.Mutex
	enc  reedsolomon.Encoder
	done map[int]bool
}

var (
	parityMu   sync.Mutex
	parityAccs = map[string]*parityAcc{}
)

// receiveParity adds a chunk of a data shard to this host's parity shard
// p.Index of group p.Group; the data shard's last chunk of the group's last
// data shard finishes the shard (fsync, hash), whose reference it returns.
func (a *Agent) receiveParity(p agentrpc.ParityParams, data []byte) (*ckpt.ParityShard, error) {
	if p.Data < 1 || p.Parity < 1 || p.Index < 0 || p.Index >= p.Parity || p.Idx < 0 || p.Idx >= p.Data || p.Offset < 0 || len(data) > parityChunk {
		return nil, fmt.Errorf("parity chunk: shard %d of %d, data %d of %d, %d bytes at %d", p.Index, p.Parity, p.Idx, p.Data, len(data), p.Offset)
	}
	name := ckpt.ParityFile(p.Group, p.Index)
	path, err := a.store.PartialPath(p.VM, p.ID, name)
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("%p/%s", a, path)
	parityMu.Lock()
	acc := parityAccs[key]
	if acc == nil {
		enc, err := reedsolomon.New(p.Data, p.Parity)
		if err != nil {
			parityMu.Unlock()
			return nil, err
		}
		acc = &parityAcc{enc: enc, done: map[int]bool{}}
		parityAccs[key] = acc
	}
	parityMu.Unlock()
	acc.mu.Lock()
	defer acc.mu.Unlock()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if len(data) > 0 {
		parity := make([][]byte, p.Parity)
		for j := range parity {
			parity[j] = make([]byte, len(data))
		}
		if _, err := f.ReadAt(parity[p.Index], p.Offset); err != nil && err != io.EOF {
			return nil, err
		}
		if err := acc.enc.EncodeIdx(data, p.Idx, parity); err != nil {
			return nil, err
		}
		if _, err := f.WriteAt(parity[p.Index], p.Offset); err != nil {
			return nil, err
		}
	}
	if !p.Last {
		return nil, nil
	}
	acc.done[p.Idx] = true
	if len(acc.done) < p.Data {
		return nil, nil
	}
	parityMu.Lock()
	delete(parityAccs, key)
	parityMu.Unlock()
	if err := f.Sync(); err != nil {
		return nil, err
	}
	digest, size, err := ckpt.HashFile(path)
	if err != nil {
		return nil, err
	}
	return &ckpt.ParityShard{Group: p.Group, Index: p.Index, FileRef: ckpt.FileRef{Host: a.cfg.Name, File: name, Bytes: size, Digest: digest}}, nil
}

// rebuild rebuilds a lost host's files (p.Of) or one of this host's parity
// shards from the survivors, chunk by chunk: for every group, the other
// data shards' bytes and the parity shards' are fetched from their hosts,
// and Reed-Solomon reconstructs the missing shard.
func (a *Agent) rebuild(ctx context.Context, p agentrpc.RebuildParams) (*agentrpc.RebuildResult, error) {
	m, err := ckpt.DecodeManifest(p.Manifest)
	if err != nil {
		return nil, err
	}
	par := m.Parity
	if par == nil {
		return nil, fmt.Errorf("checkpoint %s has no parity", m.ID)
	}
	enc, err := reedsolomon.New(par.Data, par.Parity)
	if err != nil {
		return nil, err
	}
	lost := map[string]bool{}
	for _, h := range p.Lost {
		lost[h] = true
	}
	sizes := fileSizes(m)
	// What to write: spans of the wanted shard, into local files.
	type out struct {
		name  string // original
		local string // name here
		path  string
		at    int64 // its start in the wanted shard's stream
		size  int64
		piece *ckpt.PieceRef
		f     *os.File
	}
	var outs []*out
	var segs []ckpt.ParitySegment // of the wanted shard, in its own stream
	if p.Of != "" {
		st := par.Stream(p.Of)
		if st == nil {
			return nil, fmt.Errorf("checkpoint %s: no parity stream of %s", m.ID, p.Of)
		}
		var at int64
		for _, f := range st.Files {
			size := sizes[[2]string{p.Of, f}]
			if local, ok := p.Names[f]; ok {
				o := &out{name: f, local: local, at: at, size: size}
				for i := range m.Pieces {
					if m.Pieces[i].Host == p.Of && m.Pieces[i].File == f {
						o.piece = &m.Pieces[i]
					}
				}
				outs = append(outs, o)
			}
			at += size
		}
		if at != st.Bytes {
			return nil, fmt.Errorf("checkpoint %s: %s's stream is %d bytes, its files %d", m.ID, p.Of, st.Bytes, at)
		}
		segs = par.Segments(p.Of, st.Bytes)
	} else {
		sh := par.Shard(p.Group, p.Index)
		if sh == nil || sh.Host != a.cfg.Name {
			return nil, fmt.Errorf("checkpoint %s: parity shard %d of group %d is not this host's", m.ID, p.Index, p.Group)
		}
		outs = append(outs, &out{name: sh.File, local: sh.File, size: sh.Bytes})
		segs = []ckpt.ParitySegment{{Group: p.Group, Idx: par.Data + p.Index, Length: sh.Bytes}}
	}
	for _, o := range outs {
		if o.path, err = a.store.PartialPath(p.VM, p.ID, o.local); err != nil {
			return nil, err
		}
		if o.f, err = os.Create(o.path); err != nil {
			return nil, err
		}
	}
	closeAll := func(remove bool) {
		for _, o := range outs {
			if o.f != nil {
				o.f.Close()
				o.f = nil
			}
			if remove {
				os.Remove(o.path)
			}
		}
	}
	res := &agentrpc.RebuildResult{Files: map[string]agentrpc.RepairFileResult{}}
	fail := func(err error) (*agentrpc.RebuildResult, error) {
		closeAll(true)
		return nil, err
	}
	for _, seg := range segs {
		g := seg.Group
		data := par.DataHosts(g)
		// Where every other shard of the group is: a host's stream segment,
		// or a parity file.
		type src struct {
			host  string
			files []string
			fsz   []int64
			off   int64
			size  int64
		}
		srcs := make([]*src, par.Data+par.Parity)
		for k, h := range data {
			if k == seg.Idx || lost[h] {
				continue
			}
			st := par.Stream(h)
			if st == nil {
				continue
			}
			for _, s := range par.Segments(h, st.Bytes) {
				if s.Group == g {
					sc := &src{host: h, files: st.Files, off: s.Offset, size: s.Length}
					for _, f := range st.Files {
						sc.fsz = append(sc.fsz, sizes[[2]string{h, f}])
					}
					srcs[k] = sc
				}
			}
		}
		for j, h := range par.Holders(g) {
			if par.Data+j == seg.Idx || lost[h] {
				continue
			}
			if sh := par.Shard(g, j); sh != nil {
				srcs[par.Data+j] = &src{host: h, files: []string{sh.File}, fsz: []int64{sh.Bytes}, size: sh.Bytes}
			}
		}
		for o := int64(0); o < seg.Length; o += parityChunk {
			n := min(int64(parityChunk), seg.Length-o)
			shards := make([][]byte, par.Data+par.Parity)
			have := 0
			for k, sc := range srcs {
				if sc == nil || have == par.Data {
					continue
				}
				b := make([]byte, n)
				if c := min(n, sc.size-o); c > 0 {
					if err := a.peerSpan(ctx, p.VM, p.ID, sc.host, sc.files, sc.fsz, sc.off+o, b[:c]); err != nil {
						a.logf(api.Warn, "rebuild of %s: shard %d of group %d from %s: %v", m0(p), k, g, sc.host, err)
						srcs[k] = nil
						continue
					}
					res.Fetched += c
				}
				shards[k] = b
				have++
			}
			if have < par.Data {
				return fail(fmt.Errorf("group %d: only %d of the %d shards needed answer", g, have, par.Data))
			}
			if err := enc.Reconstruct(shards); err != nil {
				return fail(fmt.Errorf("group %d: %w", g, err))
			}
			// Bytes [seg.Offset+o, +n) of the wanted stream.
			lo, hi := seg.Offset+o, seg.Offset+o+n
			for _, w := range outs {
				s, e := max(lo, w.at), min(hi, w.at+w.size)
				if s >= e {
					continue
				}
				if _, err := w.f.WriteAt(shards[seg.Idx][s-lo:e-lo], s-w.at); err != nil {
					return fail(err)
				}
			}
		}
	}
	for _, o := range outs {
		if err := o.f.Truncate(o.size); err != nil {
			return fail(err)
		}
		if err := o.f.Sync(); err != nil {
			return fail(err)
		}
	}
	closeAll(false)
	for _, o := range outs {
		hash, size, err := ckpt.HashFile(o.path)
		if err != nil {
			return fail(err)
		}
		switch {
		case o.piece != nil:
			info, faults := ckpt.VerifyPiece(o.path)
			if len(faults) > 0 {
				return fail(fmt.Errorf("rebuilt %s is damaged: %v", o.name, faults[0]))
			}
			if info.Digest != o.piece.Digest {
				return fail(fmt.Errorf("rebuilt %s has digest %s, the manifest says %s", o.name, info.Digest, o.piece.Digest))
			}
		case p.Of == "":
			if sh := par.Shard(p.Group, p.Index); hash != sh.Digest {
				return fail(fmt.Errorf("re-encoded %s has digest %s, the manifest says %s", o.name, hash, sh.Digest))
			}
		default:
			if d := m.DeviceState; d != nil && d.Host == p.Of && d.File == o.name && hash != d.Digest {
				return fail(fmt.Errorf("rebuilt %s has digest %s, the manifest says %s", o.name, hash, d.Digest))
			}
		}
		res.Files[o.name] = agentrpc.RepairFileResult{Digest: hash, Bytes: size}
	}
	for _, o := range outs {
		final, err := a.store.Path(p.VM, p.ID, o.local)
		if err != nil {
			return fail(err)
		}
		if err := os.Rename(o.path, final); err != nil {
			return fail(err)
		}
	}
	if len(outs) > 0 {
		if err := ckpt.SyncDir(filepath.Dir(outs[0].path)); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func m0(p agentrpc.RebuildParams) string {
	if p.Of != "" {
		return p.Of + "'s files"
	}
	return ckpt.ParityFile(p.Group, p.Index)
}

// fileSizes maps (host, file) to the size of every file the manifest names.
func fileSizes(m *ckpt.Manifest) map[[2]string]int64 {
	out := map[[2]string]int64{}
	for _, p := range m.Pieces {
		out[[2]string{p.Host, p.File}] = p.Bytes
	}
	if d := m.DeviceState; d != nil {
		out[[2]string{d.Host, d.File}] = d.Bytes
	}
	return out
}

// peerSpan reads len(b) bytes at off of the concatenation of host's
// committed files.
func (a *Agent) peerSpan(ctx context.Context, vm, id, host string, files []string, sizes []int64, off int64, b []byte) error {
	for i, f := range files {
		if len(b) == 0 {
			return nil
		}
		if off >= sizes[i] {
			off -= sizes[i]
			continue
		}
		for n := min(int64(len(b)), sizes[i]-off); n > 0; {
			c := min(n, int64(replicaChunk))
			data, err := a.fileChunk(ctx, host, agentrpc.FileParams{VM: vm, ID: id, File: f, Offset: off, Length: c})
			if err == nil && int64(len(data)) != c {
				err = fmt.Errorf("short read of %s", f)
			}
			if err != nil {
				return err
			}
			copy(b, data)
			b, off, n = b[c:], off+c, n-c
		}
		off = 0
	}
	if len(b) > 0 {
		return fmt.Errorf("%s's stream ends %d bytes early", host, len(b))
	}
	return nil
}

// fileChunk reads a chunk of a committed checkpoint file of host: this
// host's own from its store, another's over the peer link.
func (a *Agent) fileChunk(ctx context.Context, host string, p agentrpc.FileParams) ([]byte, error) {
	if host == a.cfg.Name {
		return a.serveFile(p)
	}
	return a.peerPool.call(ctx, host, agentrpc.PeerFile, p, nil, nil)
}
