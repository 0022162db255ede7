package hostagent

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"

	"dcres/agentrpc"
	"dcres/api"
	"dcres/ckpt"
	"dcres/pager"
)

// compact writes this host's piece of a full checkpoint equal to the end of
// a chain, from the chain's pieces held here: every page of p.Sources, the
// last copy of each (zero pages recorded, since a zero copy must still win
// over an older one elsewhere).
func (a *Agent) compact(ctx context.Context, p agentrpc.CompactParams) (*agentrpc.SaveResult, error) {
	if err := ckpt.ValidName("checkpoint id", p.ID); err != nil {
		return nil, err
	}
	if p.NPages == 0 {
		return nil, fmt.Errorf("compact: the guest's page count is missing")
	}
	st, err := pager.NewStore(p.NPages)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var ranges []api.Range
	for _, src := range p.Sources {
		for _, r := range src.Ranges {
			if r.Start+r.Count > p.NPages || r.Start+r.Count < r.Start {
				return nil, fmt.Errorf("compact: range %d+%d is outside the guest's %d pages", r.Start, r.Count, p.NPages)
			}
		}
		ranges = append(ranges, src.Ranges...)
		err := a.eachPage(p.VM, src.ID, "", src.Ranges, func(g uint64, page []byte) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			st.Put(g, page)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", src.ID, err)
		}
	}
	sort.Slice(ranges, func(i, j int) bool { return ranges[i].Start < ranges[j].Start })
	file := pieceFile(a.cfg.Name, false, 0)
	res := &agentrpc.SaveResult{}
	res.Piece, err = a.writePiece(p.VM, p.ID, file, func(w *ckpt.PieceWriter) error {
		for _, r := range ranges {
			for g := r.Start; g < r.Start+r.Count; g++ {
				page := zeroPage[:]
				if st.Has(g) {
					page = st.Page(g)
				}
				if err := w.WritePage(g, page); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if d := p.DeviceState; d != nil {
		ref, err := a.copyCheckpointFile(p.VM, p.From, p.ID, d.File)
		if err != nil {
			return nil, err
		}
		res.DeviceState = ref
	}
	a.mu.Lock()
	if a.rebase == nil {
		a.rebase = map[string]string{}
	}
	a.rebase[p.VM+"/"+p.ID] = p.From
	a.mu.Unlock()
	return res, nil
}

// copyCheckpointFile copies file of checkpoint from into checkpoint to, as a
// partial file.
func (a *Agent) copyCheckpointFile(vmName, from, to, file string) (*ckpt.FileRef, error) {
	src, err := a.store.Path(vmName, from, file)
	if err != nil {
		return nil, err
	}
	dst, err := a.store.PartialPath(vmName, to, file)
	if err != nil {
		return nil, err
	}
	in, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return nil, err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return nil, err
	}
	if err := out.Close(); err != nil {
		return nil, err
	}
	return fileRef(a.cfg.Name, dst, file)
}
