package hostagent

import (
	"dcres/agentrpc"
	"dcres/ckpt"
)

// census says which pages of host of's pieces of a checkpoint (this host's
// own, or its replicas of of's) carry data, the last piece's copy winning as
// in a restore: the planner counts only those as bytes to move.
func (a *Agent) census(p agentrpc.CensusParams) (*agentrpc.CensusResult, error) {
	m, err := a.store.Load(p.VM, p.ID)
	if err != nil {
		return nil, err
	}
	files := piecesOf(m, a.cfg.Name)
	if p.Of != "" && p.Of != a.cfg.Name {
		files = nil
		for _, f := range piecesOf(m, p.Of) {
			files = append(files, replicaName(p.Of, f))
		}
	}
	n := m.Pages()
	res := &agentrpc.CensusResult{Pages: n, NonZero: make([]byte, (n+7)/8)}
	for _, file := range files {
		path, err := a.store.Path(p.VM, p.ID, file)
		if err != nil {
			return nil, err
		}
		r, err := ckpt.OpenPiece(path)
		if err != nil {
			return nil, err
		}
		err = r.Census(func(g uint64, zero bool) {
			if g >= n {
				return
			}
			if zero {
				res.NonZero[g/8] &^= 1 << (g % 8)
			} else {
				res.NonZero[g/8] |= 1 << (g % 8)
			}
		})
		r.Close()
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}
