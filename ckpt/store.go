package ckpt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

const (
	manifestName  = "manifest.json"
	partialSuffix = ".partial"
	tmpSuffix     = ".tmp"
)

// ErrCommitted is returned (wrapped) by Abort for a checkpoint that is
// already committed on this host, which Abort never touches.
var ErrCommitted = errors.New("checkpoint is committed")

// ErrNotFound is returned (wrapped) when a checkpoint has no manifest here.
var ErrNotFound = errors.New("no committed checkpoint")

// Store is one host's checkpoint directory: <Root>/<vm>/<id>/ holds
// <file>.partial while a checkpoint is written, the final names after
// commit, and manifest.json, written last. A checkpoint is committed on this
// host exactly when its manifest.json exists.
type Store struct{ Root string }

func (s Store) dir(vm, id string) (string, error) {
	if s.Root == "" {
		return "", errors.New("ckpt: store has no root directory")
	}
	if err := ValidName("vm", vm); err != nil {
		return "", err
	}
	if err := ValidName("id", id); err != nil {
		return "", err
	}
	return filepath.Join(s.Root, vm, id), nil
}

// PartialPath returns the path to write file under while checkpoint vm/id is
// uncommitted, creating the checkpoint directory.
func (s Store) PartialPath(vm, id, file string) (string, error) {
	d, err := s.dir(vm, id)
	if err != nil {
		return "", err
	}
	if err := validFileName(file); err != nil {
		return "", err
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", fmt.Errorf("ckpt: create checkpoint directory: %w", err)
	}
	return filepath.Join(d, file+partialSuffix), nil
}

// Path returns the committed path of file in checkpoint vm/id.
func (s Store) Path(vm, id, file string) (string, error) {
	d, err := s.dir(vm, id)
	if err != nil {
		return "", err
	}
	if err := validFileName(file); err != nil {
		return "", err
	}
	return filepath.Join(d, file), nil
}

// Commit is this host's second phase: it renames every partial file of the
// checkpoint to its final name, then writes the manifest atomically (tmp,
// fsync, rename, fsync dir). Committing again with the same manifest is a
// no-op; with a different one it is an error.
func (s Store) Commit(vm, id string, m *Manifest) error {
	d, err := s.dir(vm, id)
	if err != nil {
		return err
	}
	if m.VM != vm || m.ID != id {
		return fmt.Errorf("ckpt: commit %s/%s: manifest is for %s/%s", vm, id, m.VM, m.ID)
	}
	b, err := EncodeManifest(m)
	if err != nil {
		return err
	}
	mp := filepath.Join(d, manifestName)
	if old, err := readLimited(mp); err == nil {
		if bytes.Equal(old, b) {
			return nil
		}
		return fmt.Errorf("ckpt: commit %s/%s: already committed with a different manifest; delete it first: %w", vm, id, ErrCommitted)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ckpt: commit %s/%s: %w", vm, id, err)
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return fmt.Errorf("ckpt: commit %s/%s: %w", vm, id, err)
	}
	ents, err := os.ReadDir(d)
	if err != nil {
		return fmt.Errorf("ckpt: commit %s/%s: %w", vm, id, err)
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), partialSuffix)
		if !ok || !e.Type().IsRegular() || validFileName(name) != nil {
			continue
		}
		if err := os.Rename(filepath.Join(d, e.Name()), filepath.Join(d, name)); err != nil {
			return fmt.Errorf("ckpt: commit %s/%s: %w", vm, id, err)
		}
	}
	if err := SyncDir(d); err != nil {
		return fmt.Errorf("ckpt: commit %s/%s: %w", vm, id, err)
	}
	if err := writeAtomic(mp, b); err != nil {
		return fmt.Errorf("ckpt: commit %s/%s: %w", vm, id, err)
	}
	return nil
}

// Amend replaces the manifest of a committed checkpoint with m, which must
// describe the same checkpoint (SameCut: only its redundancy differs), or
// writes m where the manifest is missing or damaged (a repaired directory
// whose files are back). The write is atomic.
func (s Store) Amend(vm, id string, m *Manifest) error {
	d, err := s.dir(vm, id)
	if err != nil {
		return err
	}
	if m.VM != vm || m.ID != id {
		return fmt.Errorf("ckpt: amend %s/%s: manifest is for %s/%s", vm, id, m.VM, m.ID)
	}
	b, err := EncodeManifest(m)
	if err != nil {
		return err
	}
	if old, err := s.Load(vm, id); err == nil && !SameCut(old, m) {
		return fmt.Errorf("ckpt: amend %s/%s: the manifest here describes another checkpoint", vm, id)
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return fmt.Errorf("ckpt: amend %s/%s: %w", vm, id, err)
	}
	if err := writeAtomic(filepath.Join(d, manifestName), b); err != nil {
		return fmt.Errorf("ckpt: amend %s/%s: %w", vm, id, err)
	}
	return nil
}

// Abort removes an uncommitted checkpoint's files and directory. It never
// touches a committed checkpoint: for one it returns an error wrapping
// ErrCommitted. Aborting a checkpoint that does not exist is not an error.
func (s Store) Abort(vm, id string) error {
	d, err := s.dir(vm, id)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(filepath.Join(d, manifestName)); err == nil {
		return fmt.Errorf("ckpt: abort %s/%s: %w; use Delete to remove it", vm, id, ErrCommitted)
	}
	if err := os.RemoveAll(d); err != nil {
		return fmt.Errorf("ckpt: abort %s/%s: %w", vm, id, err)
	}
	return nil
}

// Delete removes a committed checkpoint. The manifest goes first (and is
// made durable), so a crash midway leaves an uncommitted directory that
// CleanPartials removes, never a listed but incomplete checkpoint.
func (s Store) Delete(vm, id string) error {
	d, err := s.dir(vm, id)
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(d, manifestName)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("ckpt: delete %s/%s: %w here", vm, id, ErrNotFound)
		}
		return fmt.Errorf("ckpt: delete %s/%s: %w", vm, id, err)
	}
	if err := SyncDir(d); err != nil {
		return fmt.Errorf("ckpt: delete %s/%s: %w", vm, id, err)
	}
	if err := os.RemoveAll(d); err != nil {
		return fmt.Errorf("ckpt: delete %s/%s: %w", vm, id, err)
	}
	return nil
}

// Load reads and checks the manifest of checkpoint vm/id.
func (s Store) Load(vm, id string) (*Manifest, error) {
	d, err := s.dir(vm, id)
	if err != nil {
		return nil, err
	}
	b, err := readLimited(filepath.Join(d, manifestName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("ckpt: load %s/%s: %w here", vm, id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("ckpt: load %s/%s: %w", vm, id, err)
	}
	m, err := DecodeManifest(b)
	if err != nil {
		return nil, fmt.Errorf("ckpt: load %s/%s: %w", vm, id, err)
	}
	if m.VM != vm || m.ID != id {
		return nil, fmt.Errorf("ckpt: load %s/%s: manifest says %s/%s", vm, id, m.VM, m.ID)
	}
	return m, nil
}

// List returns vm's committed checkpoints on this host, oldest first. A
// directory without a readable, valid manifest is not a checkpoint and is
// left out (Load on it says why).
func (s Store) List(vm string) ([]*Manifest, error) {
	if err := ValidName("vm", vm); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(filepath.Join(s.Root, vm))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ckpt: list %s: %w", vm, err)
	}
	var out []*Manifest
	for _, e := range ents {
		if !e.IsDir() || ValidName("id", e.Name()) != nil {
			continue
		}
		if m, err := s.Load(vm, e.Name()); err == nil {
			out = append(out, m)
		}
	}
	sortManifests(out)
	return out, nil
}

// Damaged lists the checkpoints of vm whose manifest is present but cannot
// be read or fails its checks (List leaves them out), with why.
func (s Store) Damaged(vm string) (map[string]error, error) {
	if err := ValidName("vm", vm); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(filepath.Join(s.Root, vm))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ckpt: list %s: %w", vm, err)
	}
	out := map[string]error{}
	for _, e := range ents {
		if !e.IsDir() || ValidName("id", e.Name()) != nil {
			continue
		}
		if _, err := s.Load(vm, e.Name()); err != nil && !errors.Is(err, ErrNotFound) {
			out[e.Name()] = fmt.Errorf("%s: %w", filepath.Join(s.Root, vm, e.Name(), manifestName), err)
		}
	}
	return out, nil
}

// CleanPartials is for agent start: it removes every checkpoint directory
// without a manifest, and stray partial and tmp files inside committed
// ones. It returns the paths it removed.
func (s Store) CleanPartials() ([]string, error) {
	vms, err := os.ReadDir(s.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ckpt: clean partials: %w", err)
	}
	var removed []string
	var errs []error
	for _, v := range vms {
		if !v.IsDir() || ValidName("vm", v.Name()) != nil {
			continue
		}
		vd := filepath.Join(s.Root, v.Name())
		ids, err := os.ReadDir(vd)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, c := range ids {
			if !c.IsDir() || ValidName("id", c.Name()) != nil {
				continue
			}
			cd := filepath.Join(vd, c.Name())
			if _, err := os.Lstat(filepath.Join(cd, manifestName)); err != nil {
				if err := os.RemoveAll(cd); err != nil {
					errs = append(errs, err)
					continue
				}
				removed = append(removed, cd)
				continue
			}
			files, err := os.ReadDir(cd)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, f := range files {
				if n := f.Name(); strings.HasSuffix(n, partialSuffix) || strings.HasSuffix(n, tmpSuffix) {
					p := filepath.Join(cd, n)
					if err := os.Remove(p); err != nil {
						errs = append(errs, err)
						continue
					}
					removed = append(removed, p)
				}
			}
		}
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("ckpt: clean partials: %w", errors.Join(errs...))
	}
	return removed, nil
}

// VerifyLocal checks host's pieces and device state of checkpoint vm/id
// against the digests, sizes and counts in the manifest. The error is for
// a checkpoint that cannot be loaded at all; everything else is a Fault.
func (s Store) VerifyLocal(vm, id, host string) ([]Fault, error) {
	m, err := s.Load(vm, id)
	if err != nil {
		return nil, err
	}
	var faults []Fault
	for _, p := range m.Pieces {
		if p.Host != host {
			continue
		}
		path, err := s.Path(vm, id, p.File)
		if err != nil {
			return nil, err
		}
		info, fs := VerifyPiece(path)
		faults = append(faults, fs...)
		if len(fs) > 0 {
			continue
		}
		mismatch := func(what string, got, want any) {
			faults = append(faults, Fault{File: path, Length: info.Bytes,
				Reason: fmt.Sprintf("%s is %v, manifest says %v", what, got, want)})
		}
		if info.Digest != p.Digest {
			mismatch("piece digest", info.Digest, p.Digest)
		}
		if info.Bytes != p.Bytes {
			mismatch("size", info.Bytes, p.Bytes)
		}
		if info.Pages != p.Pages || info.ZeroPages != p.ZeroPages {
			mismatch("page count (pages/zero)", fmt.Sprint(info.Pages, "/", info.ZeroPages), fmt.Sprint(p.Pages, "/", p.ZeroPages))
		}
		if info.Host != host || info.VM != vm || info.CheckpointID != id {
			mismatch("header host/vm/id", info.Host+"/"+info.VM+"/"+info.CheckpointID, host+"/"+vm+"/"+id)
		}
	}
	checkHashed := func(what string, f FileRef) error {
		path, err := s.Path(vm, id, f.File)
		if err != nil {
			return err
		}
		dig, n, err := HashFile(path)
		switch {
		case err != nil:
			faults = append(faults, Fault{File: path, Reason: err.Error()})
		case dig != f.Digest || n != f.Bytes:
			faults = append(faults, Fault{File: path, Length: n,
				Reason: fmt.Sprintf("%s digest %s, %d bytes; manifest says %s, %d bytes", what, dig, n, f.Digest, f.Bytes)})
		}
		return nil
	}
	if d := m.DeviceState; d != nil && d.Host == host {
		if err := checkHashed("device state", *d); err != nil {
			return nil, err
		}
	}
	for _, r := range m.Replicas {
		if r.Host == host {
			if err := checkHashed("replica of "+r.Of+"'s "+r.Original, r.FileRef); err != nil {
				return nil, err
			}
		}
	}
	if p := m.Parity; p != nil {
		for _, sh := range p.Shards {
			if sh.Host == host {
				if err := checkHashed(fmt.Sprintf("parity shard %d of group %d", sh.Index, sh.Group), sh.FileRef); err != nil {
					return nil, err
				}
			}
		}
	}
	return faults, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifestLen+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxManifestLen {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a manifest", path, maxManifestLen)
	}
	return b, nil
}

// writeAtomic writes b to path so that path holds either its old contents
// or all of b, durably, whatever crashes.
func writeAtomic(path string, b []byte) error {
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir makes a directory's entries durable (after a rename or create in it).
func SyncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
