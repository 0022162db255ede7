package hostagent

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"dcres/agentrpc"
	"dcres/ckpt"
)

// Redundancy: after every host saved its piece (and the guest runs again),
// each host copies its files of the checkpoint to other hosts over the peer
// links, as partial files committed with the rest. A host whose checkpoint
// directory is lost is then restored from those copies.

// replicaChunk is the size of one replica message.
const replicaChunk = 4 << 20

// replicaName is what a holder calls its copy of host of's file.
func replicaName(of, file string) string { return "replica-" + of + "-" + file }

// protect copies this host's partial files of checkpoint p.ID to p.To.
func (v *vm) protect(ctx context.Context, p agentrpc.ProtectParams) (*agentrpc.ProtectResult, error) {
	files, err := v.ownPartials(p.ID)
	if err != nil {
		return nil, err
	}
	res := &agentrpc.ProtectResult{}
	for _, to := range p.To {
		if to == v.a.cfg.Name {
			return nil, fmt.Errorf("a host cannot hold its own replica")
		}
		for _, f := range files {
			ref, n, err := v.sendReplica(ctx, to, p.ID, f)
			if err != nil {
				return nil, fmt.Errorf("copying %s to %s: %w", f, to, err)
			}
			res.Replicas = append(res.Replicas, ref)
			res.Bytes += n
		}
	}
	return res, nil
}

// ownPartials lists this host's own (not replica, not parity) partial
// files of id.
func (v *vm) ownPartials(id string) ([]string, error) {
	probe, err := v.a.store.PartialPath(v.name, id, "probe")
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Dir(probe))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".partial")
		if ok && !strings.HasPrefix(name, "replica-") && !strings.HasPrefix(name, "parity-") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (v *vm) sendReplica(ctx context.Context, to, id, file string) (ckpt.Replica, int64, error) {
	path, err := v.a.store.PartialPath(v.name, id, file)
	if err != nil {
		return ckpt.Replica{}, 0, err
	}
	digest, size, err := ckpt.HashFile(path)
	if err != nil {
		return ckpt.Replica{}, 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return ckpt.Replica{}, 0, err
	}
	defer f.Close()
	buf := make([]byte, replicaChunk)
	var off int64
	for {
		n, rerr := io.ReadFull(f, buf)
		if rerr != nil && rerr != io.ErrUnexpectedEOF && rerr != io.EOF {
			return ckpt.Replica{}, 0, rerr
		}
		last := off+int64(n) >= size
		_, err := v.a.peerPool.call(ctx, to, agentrpc.PeerReplica, agentrpc.ReplicaParams{
			VM: v.name, ID: id, Of: v.a.cfg.Name, Original: file, Offset: off, Last: last}, buf[:n], nil)
		if err != nil {
			return ckpt.Replica{}, 0, err
		}
		off += int64(n)
		if last {
			break
		}
	}
	return ckpt.Replica{Of: v.a.cfg.Name, Original: file,
		FileRef: ckpt.FileRef{Host: to, File: replicaName(v.a.cfg.Name, file), Bytes: size, Digest: digest}}, size, nil
}

// receiveReplica writes a chunk of a peer's file under its replica name, as
// a partial file of the checkpoint.
func (a *Agent) receiveReplica(p agentrpc.ReplicaParams, data []byte) error {
	if err := ckpt.ValidName("host", p.Of); err != nil {
		return err
	}
	path, err := a.store.PartialPath(p.VM, p.ID, replicaName(p.Of, p.Original))
	if err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE
	if p.Offset == 0 {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, p.Offset); err != nil {
		f.Close()
		return err
	}
	if p.Last {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// serveFile reads a chunk of a committed checkpoint file held here.
func (a *Agent) serveFile(p agentrpc.FileParams) ([]byte, error) {
	if p.Length <= 0 || p.Length > replicaChunk || p.Offset < 0 {
		return nil, fmt.Errorf("file chunk %d+%d: at most %d bytes from a non-negative offset", p.Offset, p.Length, replicaChunk)
	}
	path, err := a.store.Path(p.VM, p.ID, p.File)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, p.Length)
	n, err := f.ReadAt(buf, p.Offset)
	if err != nil && err != io.EOF {
		return nil, err
	}
	return buf[:n], nil
}

// fetchFile copies a peer's committed file into this host's checkpoint
// directory under name (a lost device state, from its replica).
func (v *vm) fetchFile(ctx context.Context, from, id, file, name string, size int64) error {
	path, err := v.a.store.PartialPath(v.name, id, name)
	if err != nil {
		return err
	}
	// The partial name is only a place to write: the file is renamed to its
	// final name once whole, in a directory whose manifest may be gone.
	final, err := v.a.store.Path(v.name, id, name)
	if err != nil {
		return err
	}
	if err := v.a.copyFromPeer(ctx, v.name, id, from, file, path, size); err != nil {
		return err
	}
	return os.Rename(path, final)
}

// copyFromPeer copies size bytes of a peer's committed file of checkpoint
// vm/id to path, durably; on error path is removed.
func (a *Agent) copyFromPeer(ctx context.Context, vm, id, from, file, path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(path)
		return err
	}
	for off := int64(0); off < size; {
		n := min(int64(replicaChunk), size-off)
		data, err := a.fileChunk(ctx, from, agentrpc.FileParams{VM: vm, ID: id, File: file, Offset: off, Length: n})
		if err == nil && int64(len(data)) != n {
			err = fmt.Errorf("short read of %s from %s", file, from)
		}
		if err != nil {
			return fail(err)
		}
		if _, err := f.Write(data); err != nil {
			return fail(err)
		}
		off += n
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// repairFile rebuilds one file of a committed (or lost) checkpoint from a
// good copy on a peer: the copy is fetched under a partial name, checked
// against the digest the manifest records, and only then renamed over
// whatever was there.
func (a *Agent) repairFile(ctx context.Context, p agentrpc.RepairFileParams) (*agentrpc.RepairFileResult, error) {
	if err := ckpt.ValidName("host", p.From); err != nil {
		return nil, err
	}
	path, err := a.store.PartialPath(p.VM, p.ID, p.File)
	if err != nil {
		return nil, err
	}
	final, err := a.store.Path(p.VM, p.ID, p.File)
	if err != nil {
		return nil, err
	}
	if err := a.copyFromPeer(ctx, p.VM, p.ID, p.From, p.FromFile, path, p.Bytes); err != nil {
		return nil, fmt.Errorf("copying %s from %s: %w", p.FromFile, p.From, err)
	}
	fail := func(err error) (*agentrpc.RepairFileResult, error) {
		os.Remove(path)
		return nil, err
	}
	hash, size, err := ckpt.HashFile(path)
	if err != nil {
		return fail(err)
	}
	digest := hash
	if p.Piece {
		info, faults := ckpt.VerifyPiece(path)
		if len(faults) > 0 {
			return fail(fmt.Errorf("the copy of %s from %s is damaged: %v", p.FromFile, p.From, faults[0]))
		}
		digest = info.Digest
	}
	if digest != p.Digest || size != p.Bytes {
		return fail(fmt.Errorf("the copy of %s from %s has digest %s, %d bytes; the manifest says %s, %d bytes", p.FromFile, p.From, digest, size, p.Digest, p.Bytes))
	}
	if err := os.Rename(path, final); err != nil {
		return fail(err)
	}
	if err := ckpt.SyncDir(filepath.Dir(final)); err != nil {
		return nil, err
	}
	return &agentrpc.RepairFileResult{Digest: hash, Bytes: size}, nil
}

// amend writes a checkpoint's manifest with new redundancy, or where a
// repaired directory lost it.
func (a *Agent) amend(p agentrpc.AmendParams) error {
	m, err := ckpt.DecodeManifest(p.Manifest)
	if err != nil {
		return err
	}
	return a.store.Amend(p.VM, p.ID, m)
}
