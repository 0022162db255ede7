package hostagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"

	"dcres/agentrpc"
	"dcres/api"
	"dcres/ckpt"
	"dcres/rpc"
)

// operatorHandler serves the operator's methods, with any injected fault.
func (a *Agent) operatorHandler(ctx context.Context, req *rpc.Request) (any, []byte, error) {
	if len(a.faults) == 0 {
		return a.serveOperator(ctx, req)
	}
	if err := a.inject(req.Method, "before"); err != nil {
		return nil, nil, err
	}
	res, payload, err := a.serveOperator(ctx, req)
	if ferr := a.inject(req.Method, "after"); ferr != nil {
		return nil, nil, ferr
	}
	return res, payload, err
}

func (a *Agent) serveOperator(ctx context.Context, req *rpc.Request) (any, []byte, error) {
	switch req.Method {
	case agentrpc.Info:
		return a.info(), nil, nil
	case agentrpc.Setup:
		var p agentrpc.SetupParams
		if err := req.Decode(&p); err != nil {
			return nil, nil, err
		}
		return nil, nil, a.setupVM(p)
	case agentrpc.Introduce:
		var p agentrpc.IntroduceParams
		if err := req.Decode(&p); err != nil {
			return nil, nil, err
		}
		return nil, nil, a.introduce(p.VM, p.Peers)
	case agentrpc.Run:
		return withVM(a, req, func(v *vm) (any, error) { return nil, v.run(ctx, "") })
	case agentrpc.Teardown, agentrpc.RestoreStop, agentrpc.Discard:
		var p agentrpc.VMParams
		if err := req.Decode(&p); err != nil {
			return nil, nil, err
		}
		a.stopVM(p.VM)
		return nil, nil, nil
	case agentrpc.Describe:
		return withVM(a, req, func(v *vm) (any, error) {
			v.mu.Lock()
			defer v.mu.Unlock()
			return agentrpc.DescribeResult{Setup: v.setup, Base: v.base}, nil
		})
	case agentrpc.Stats:
		return withVM(a, req, func(v *vm) (any, error) { return v.stats(), nil })
	case agentrpc.Pause:
		return withVM(a, req, func(v *vm) (any, error) {
			if err := v.pause(ctx); err != nil {
				return nil, v.explain(err)
			}
			return agentrpc.PauseResult{Locations: v.loc.Ranges(), Hosts: v.setup.Hosts, LeaseSeconds: a.cfg.Lease.Seconds()}, nil
		})
	case agentrpc.Renew:
		return withVM(a, req, func(v *vm) (any, error) { return nil, v.renew() })
	case agentrpc.Save:
		return onVM(a, req, func(v *vm, p agentrpc.SaveParams) (any, error) {
			v.noteSave(p.ID)
			res, err := v.save(ctx, p)
			return res, v.explain(err)
		})
	case agentrpc.Protect:
		return onVM(a, req, func(v *vm, p agentrpc.ProtectParams) (any, error) {
			if p.Parity != nil {
				return v.protectParity(ctx, p)
			}
			return v.protect(ctx, p)
		})
	case agentrpc.Compact:
		var p agentrpc.CompactParams
		if err := req.Decode(&p); err != nil {
			return nil, nil, err
		}
		res, err := a.compact(ctx, p)
		return res, nil, err
	case agentrpc.BenchPaging:
		return onVM(a, req, func(v *vm, p agentrpc.BenchPagingParams) (any, error) { return v.benchPaging(ctx, p) })
	case agentrpc.Round:
		return onVM(a, req, func(v *vm, p agentrpc.SaveParams) (any, error) { return v.round(ctx, p) })
	case agentrpc.Resume:
		return withVM(a, req, func(v *vm) (any, error) {
			if v.guest == nil {
				return nil, nil
			}
			if err := v.resume(); err != nil && err != errNotPaused {
				return nil, v.explain(err)
			}
			return nil, nil
		})
	case agentrpc.Commit:
		var p agentrpc.CommitParams
		if err := req.Decode(&p); err != nil {
			return nil, nil, err
		}
		m, err := ckpt.DecodeManifest(p.Manifest)
		if err != nil {
			return nil, nil, err
		}
		if m.ID != p.ID || m.VM != p.VM {
			return nil, nil, fmt.Errorf("manifest is for %s/%s, not %s/%s", m.VM, m.ID, p.VM, p.ID)
		}
		if err := a.checkCut(p.VM, p.ID); err != nil {
			return nil, nil, err
		}
		if err := a.store.Commit(p.VM, p.ID, m); err != nil {
			return nil, nil, err
		}
		a.endEpoch(p.VM, p.ID, true)
		a.rebaseOnto(p.VM, p.ID)
		return nil, nil, nil
	case agentrpc.Abort:
		var p agentrpc.CkptParams
		if err := req.Decode(&p); err != nil {
			return nil, nil, err
		}
		a.endEpoch(p.VM, p.ID, false)
		a.forgetCut(p.VM, p.ID)
		return nil, nil, a.store.Abort(p.VM, p.ID)
	case agentrpc.Rollback:
		// Whatever the commit got to: committed or partial, it goes.
		var p agentrpc.CkptParams
		if err := req.Decode(&p); err != nil {
			return nil, nil, err
		}
		a.endEpoch(p.VM, p.ID, false)
		a.forgetCut(p.VM, p.ID)
		if err := a.store.Delete(p.VM, p.ID); err != nil && !errors.Is(err, ckpt.ErrNotFound) {
			return nil, nil, err
		}
		return nil, nil, a.store.Abort(p.VM, p.ID)
	case agentrpc.Delete:
		var p agentrpc.CkptParams
		if err := req.Decode(&p); err != nil {
			return nil, nil, err
		}
		return nil, nil, a.store.Delete(p.VM, p.ID)
	case agentrpc.List:
		var p agentrpc.VMParams
		if err := req.Decode(&p); err != nil {
			return nil, nil, err
		}
		ms, err := a.store.List(p.VM)
		if err != nil {
			return nil, nil, err
		}
		res := agentrpc.ListResult{}
		damaged, err := a.store.Damaged(p.VM)
		if err != nil {
			return nil, nil, err
		}
		for id, why := range damaged {
			if res.Damaged == nil {
				res.Damaged = map[string]string{}
			}
			res.Damaged[id] = why.Error()
		}
		for _, m := range ms {
			b, err := ckpt.EncodeManifest(m)
			if err != nil {
				return nil, nil, err
			}
			res.Manifests = append(res.Manifests, b)
		}
		res.Pending = a.pending(p.VM)
		return res, nil, nil
	case agentrpc.VerifyPiece:
		var p agentrpc.CkptParams
		if err := req.Decode(&p); err != nil {
			return nil, nil, err
		}
		faults, err := a.store.VerifyLocal(p.VM, p.ID, a.cfg.Name)
		if err != nil {
			return nil, nil, err
		}
		res := agentrpc.VerifyResult{}
		bad := map[string]bool{}
		for _, f := range faults {
			res.Faults = append(res.Faults, fmt.Sprintf("%s: %s", a.cfg.Name, f))
			if name := filepath.Base(f.File); !bad[name] {
				bad[name] = true
				res.Bad = append(res.Bad, name)
			}
		}
		return res, nil, nil
	case agentrpc.RepairFile:
		var p agentrpc.RepairFileParams
		if err := req.Decode(&p); err != nil {
			return nil, nil, err
		}
		res, err := a.repairFile(ctx, p)
		return res, nil, err
	case agentrpc.Amend:
		var p agentrpc.AmendParams
		if err := req.Decode(&p); err != nil {
			return nil, nil, err
		}
		return nil, nil, a.amend(p)
	case agentrpc.Rebuild:
		var p agentrpc.RebuildParams
		if err := req.Decode(&p); err != nil {
			return nil, nil, err
		}
		res, err := a.rebuild(ctx, p)
		return res, nil, err
	case agentrpc.Census:
		var p agentrpc.CensusParams
		if err := req.Decode(&p); err != nil {
			return nil, nil, err
		}
		res, err := a.census(p)
		return res, nil, err
	case agentrpc.RestoreLoad:
		var p agentrpc.LoadParams
		if err := req.Decode(&p); err != nil {
			return nil, nil, err
		}
		res, err := a.load(ctx, p)
		return res, nil, err
	case agentrpc.RestoreStart:
		var p agentrpc.StartParams
		if err := req.Decode(&p); err != nil {
			return nil, nil, err
		}
		v, err := a.vm(p.VM)
		if err != nil {
			return nil, nil, err
		}
		return nil, nil, v.start(ctx, p)
	case agentrpc.RestoreWait:
		return withVM(a, req, func(v *vm) (any, error) {
			if v.lazy == nil {
				return &agentrpc.LoadResult{}, nil
			}
			return v.lazy.wait(ctx)
		})
	case agentrpc.VerifyGuest:
		return withVM(a, req, func(v *vm) (any, error) {
			res, err := v.verifyGuest(ctx)
			return res, v.explain(err)
		})
	}
	return nil, nil, &rpc.Error{Code: "unknown-method", Message: fmt.Sprintf("agent %s does not serve %q", a.cfg.Name, req.Method)}
}

// onVM decodes a request's parameters and runs fn on the VM they name.
func onVM[P interface{ VMName() string }](a *Agent, req *rpc.Request, fn func(v *vm, p P) (any, error)) (any, []byte, error) {
	var p P
	if err := req.Decode(&p); err != nil {
		return nil, nil, err
	}
	v, err := a.vm(p.VMName())
	if err != nil {
		return nil, nil, err
	}
	res, err := fn(v, p)
	return res, nil, err
}

// withVM is onVM for methods that take only the VM's name.
func withVM(a *Agent, req *rpc.Request, fn func(v *vm) (any, error)) (any, []byte, error) {
	return onVM(a, req, func(v *vm, _ agentrpc.VMParams) (any, error) { return fn(v) })
}

func (a *Agent) info() agentrpc.InfoResult {
	res := agentrpc.InfoResult{Name: a.cfg.Name, Version: Version,
		HostKey:     strings.TrimSpace(string(ssh.MarshalAuthorizedKey(a.hostKey.PublicKey()))),
		MemoryBytes: memTotal(), PeerAddr: a.cfg.PeerAddr}
	if out, err := exec.Command("qemu-system-x86_64", "--version").Output(); err == nil {
		res.QEMU = strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]
	}
	return res
}

func (a *Agent) setupVM(p agentrpc.SetupParams) error {
	if err := a.introduce(p.VM, p.Peers); err != nil {
		return err
	}
	a.stopVM(p.VM)
	v, err := a.newVM(p)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.vms[p.VM] = v
	a.mu.Unlock()
	a.logf(api.Info, "VM %s set up: %d pages homed here", p.VM, homePages(v))
	return nil
}

func homePages(v *vm) uint64 {
	var n uint64
	for _, r := range v.loc.Ranges() {
		if r.Host == v.a.cfg.Name {
			n += r.Count
		}
	}
	return n
}

// verifyGuest pauses the guest, reads every page through the pager and
// compares it with the version the guest wrote last, and resumes.
func (v *vm) verifyGuest(ctx context.Context) (*agentrpc.VerifyGuestResult, error) {
	if v.guest == nil {
		return nil, fmt.Errorf("host %s does not run VM %s's guest", v.a.cfg.Name, v.name)
	}
	pages, errs, err := v.guest.verify(ctx)
	if err != nil {
		return nil, err
	}
	return &agentrpc.VerifyGuestResult{Pages: pages, Errors: errs}, nil
}

// peerHandler serves one introduced peer: pages of the VMs it was introduced
// for, and nothing else.
func (a *Agent) peerHandler(name, fp string) rpc.Handler {
	return func(ctx context.Context, req *rpc.Request) (any, []byte, error) {
		var probe struct {
			VM string `json:"vm"`
		}
		if err := json.Unmarshal(req.Body, &probe); err != nil {
			return nil, nil, fmt.Errorf("peer request: %w", err)
		}
		a.mu.Lock()
		g, ok := a.peerKeys[fp]
		allowed := ok && g.vms[probe.VM]
		a.mu.Unlock()
		if !allowed {
			return nil, nil, &rpc.Error{Code: "forbidden", Message: fmt.Sprintf("peer %s was not introduced for VM %q", name, probe.VM)}
		}
		switch req.Method {
		case agentrpc.PeerFetch:
			var p agentrpc.FetchParams
			if err := req.Decode(&p); err != nil {
				return nil, nil, err
			}
			v, err := a.peerVM(p.VM, p.Incarnation)
			if err != nil {
				return nil, nil, err
			}
			data, err := v.readPages(ctx, p.Start, p.Count)
			return nil, data, err
		case agentrpc.PeerWriteBack:
			var p agentrpc.WriteBackParams
			if err := req.Decode(&p); err != nil {
				return nil, nil, err
			}
			v, err := a.peerVM(p.VM, p.Incarnation)
			if err != nil {
				return nil, nil, err
			}
			return nil, nil, v.writePages(p.GFNs, req.Payload)
		case agentrpc.PeerPiece:
			var p agentrpc.PieceParams
			if err := req.Decode(&p); err != nil {
				return nil, nil, err
			}
			res, data, err := a.servePiece(p)
			return res, data, err
		case agentrpc.PeerReplica:
			var p agentrpc.ReplicaParams
			if err := req.Decode(&p); err != nil {
				return nil, nil, err
			}
			if p.Of != name {
				return nil, nil, &rpc.Error{Code: "forbidden", Message: fmt.Sprintf("peer %s may send only its own files, not %s's", name, p.Of)}
			}
			return nil, nil, a.receiveReplica(p, req.Payload)
		case agentrpc.PeerParity:
			var p agentrpc.ParityParams
			if err := req.Decode(&p); err != nil {
				return nil, nil, err
			}
			shard, err := a.receiveParity(p, req.Payload)
			return shard, nil, err
		case agentrpc.PeerFile:
			var p agentrpc.FileParams
			if err := req.Decode(&p); err != nil {
				return nil, nil, err
			}
			data, err := a.serveFile(p)
			return nil, data, err
		}
		return nil, nil, &rpc.Error{Code: "unknown-method", Message: fmt.Sprintf("peers may not call %q", req.Method)}
	}
}

// peerVM finds the VM a peer message is for, refusing one from an older
// incarnation (a torn-down guest's late write-back must not reach a restored home).
func (a *Agent) peerVM(name string, inc uint64) (*vm, error) {
	v, err := a.vm(name)
	if err != nil {
		return nil, err
	}
	if v.inc != inc {
		return nil, &rpc.Error{Code: "stale", Message: fmt.Sprintf("VM %s is at incarnation %d here, the message is for %d", name, v.inc, inc)}
	}
	return v, nil
}

func (v *vm) readPages(ctx context.Context, start, count uint64) ([]byte, error) {
	if count == 0 || count > agentrpc.MaxPagesPerCall || start+count > v.npages || start+count < start {
		return nil, fmt.Errorf("pages %d+%d: outside VM %s (%d pages) or more than %d", start, count, v.name, v.npages, agentrpc.MaxPagesPerCall)
	}
	if v.lazy != nil {
		if err := v.lazy.ensure(ctx, start, count); err != nil {
			return nil, fmt.Errorf("pages %d+%d are not loaded here yet, and loading them failed: %w", start, count, err)
		}
	}
	out := make([]byte, count*api.PageSize)
	for i := uint64(0); i < count; i++ {
		g := start + i
		if v.loc.Home(g) != v.self {
			return nil, fmt.Errorf("page %d is not homed on %s", g, v.a.cfg.Name)
		}
		copy(out[i*api.PageSize:], v.homePage(g))
	}
	return out, nil
}

func (v *vm) writePages(gfns []uint64, data []byte) error {
	if len(data) != len(gfns)*api.PageSize {
		return fmt.Errorf("write-back of %d pages carries %d bytes", len(gfns), len(data))
	}
	for i, g := range gfns {
		if g >= v.npages || v.loc.Home(g) != v.self {
			return fmt.Errorf("page %d is not homed on %s", g, v.a.cfg.Name)
		}
		page := data[i*api.PageSize : (i+1)*api.PageSize]
		if v.lazy != nil {
			v.lazy.write(g, page)
			continue
		}
		v.putHome(g, page)
	}
	return nil
}

// checkCut refuses to commit a checkpoint whose cut the lease broke: the
// main host resumed the guest before every host had saved.
func (a *Agent) checkCut(vmName, id string) error {
	v, err := a.vm(vmName)
	if err != nil || !v.cutBroken(id) {
		return nil
	}
	return fmt.Errorf("VM %s: the lease (%s) resumed the guest before checkpoint %s was saved on every host, so its pieces are not of one instant: not committed (a longer --lease, or a faster host, lets it finish)", vmName, a.cfg.Lease, id)
}

func (a *Agent) forgetCut(vmName, id string) {
	if v, err := a.vm(vmName); err == nil {
		v.forgetCut(id)
	}
}

func (a *Agent) endEpoch(vmName, id string, committed bool) {
	if v, err := a.vm(vmName); err == nil {
		v.endEpoch(id, committed)
	}
}

// rebaseOnto makes a committed compacted checkpoint the base of its VM here
// if the VM's base was the checkpoint it folded.
func (a *Agent) rebaseOnto(vmName, id string) {
	a.mu.Lock()
	from, ok := a.rebase[vmName+"/"+id]
	delete(a.rebase, vmName+"/"+id)
	a.mu.Unlock()
	if !ok {
		return
	}
	if v, err := a.vm(vmName); err == nil {
		v.mu.Lock()
		if v.base == from {
			v.base = id
		}
		v.mu.Unlock()
	}
}
