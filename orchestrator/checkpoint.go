package orchestrator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"dcres/agentrpc"
	"dcres/api"
	"dcres/ckpt"
	"dcres/profiles"
	"dcres/protocol"
)

// Checkpoint implements api.Controller: it runs the checkpoint protocol to
// its end and returns what it measured.
func (s *Session) Checkpoint(ctx context.Context, req api.CheckpointRequest) (*api.CheckpointResult, error) {
	if req.Method == "" {
		req.Method = "dcres"
	}
	if req.Incremental && req.Method != "dcres" {
		return nil, fmt.Errorf("incremental checkpoints use method dcres, not %s", req.Method)
	}
	if req.Live && req.Method != "dcres" {
		return nil, fmt.Errorf("live checkpoints use method dcres, not %s", req.Method)
	}
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	l := s.layout
	s.seq++
	id := newID(req.Method, s.seq)
	s.mu.Unlock()
	if l.vm == "" {
		return nil, fmt.Errorf("no VM is running in this session: start it first")
	}
	s.mu.Lock()
	parent := s.lastCut
	s.mu.Unlock()
	if req.Incremental && parent == "" {
		return nil, fmt.Errorf("an incremental checkpoint needs a parent: take a full checkpoint of this VM first (or restore one)")
	}
	if !req.Incremental {
		parent = ""
	}
	savers := l.hosts
	switch req.Method {
	case "dcres":
	case "traditional", "qemu-stream":
		savers = []string{l.main}
	default:
		return nil, fmt.Errorf("checkpoint method %q is not known: use dcres, traditional or qemu-stream", req.Method)
	}
	m, err := protocol.NewCheckpoint(l.main, savers)
	if err != nil {
		return nil, err
	}
	if req.Live {
		m.Live(s.livePolicy())
	}
	ring := l.hosts
	if req.Replicas > 0 {
		if req.Replicas >= len(ring) {
			return nil, fmt.Errorf("%d replicas need at least %d hosts; this VM has %d", req.Replicas, req.Replicas+1, len(ring))
		}
		m.Protect()
	}
	par, err := newParity(req, savers) // redundancy hook: parity (parity.go)
	if err != nil {
		return nil, err
	}
	if par != nil {
		m.Protect()
	}
	s.emit(api.Event{Type: api.EvOpStart, Op: "checkpoint", ID: id, Message: fmt.Sprintf("checkpoint %s (%s) of %s on %v", id, req.Method, l.vm, savers)})
	d := &ckptDriver{s: s, l: l, id: id, method: req.Method, live: req.Live, parent: parent, replicas: req.Replicas, ring: ring, parity: par,
		saves: map[string]*agentrpc.SaveResult{}, rounds: map[string]int{}}
	start := time.Now()
	d.started = start
	run(ctx, m, d.perform, s.emitStep("checkpoint", id))
	d.stopRenew()
	res := d.result(start)
	if err := m.Err(); err != nil && !m.Committed() {
		s.emit(api.Event{Type: api.EvOpDone, Op: "checkpoint", ID: id, Level: api.Error, Message: fmt.Sprintf("checkpoint %s failed: %v", id, err)})
		return nil, fmt.Errorf("checkpoint %s failed (earlier checkpoints are untouched): %w", id, err)
	}
	if err := m.ResumeErr(); err != nil {
		s.emit(api.Event{Type: api.EvLog, Level: api.Error, Op: "checkpoint", ID: id,
			Message: fmt.Sprintf("checkpoint %s is committed but the guest could not be resumed (%v); its agent resumes it when the lease ends", id, err)})
	}
	s.mu.Lock()
	s.last[req.Method], s.last[""] = id, id
	s.lastCut = id
	s.mu.Unlock()
	s.emit(api.Event{Type: api.EvOpDone, Op: "checkpoint", ID: id, Level: api.Info, Checkpoint: res,
		Message: fmt.Sprintf("checkpoint %s committed: %s saved in %.2fs (pause %.2fs), %s over the network",
			id, fmtBytes(res.BytesSaved), res.Seconds, res.PauseSeconds, fmtBytes(res.BytesOverNetwork))})
	s.publishList(ctx)
	return res, nil
}

// ckptDriver performs a checkpoint machine's messages on the agents.
type ckptDriver struct {
	s      *Session
	l      layout
	id     string
	method string
	live   bool
	parent string // incremental: the checkpoint this one builds on

	replicas      int      // copies of every host's files on other hosts
	ring          []string // hosts that take copies, in order
	protected     []ckpt.Replica
	protectBytes  int64
	protectedTime float64
	parity        *parityState // nil without parity

	mu       sync.Mutex     // guards rounds (perform runs concurrently)
	rounds   map[string]int // pre-copy rounds started per host
	preCopy  []*agentrpc.SaveResult
	roundLog []api.Round

	pause    agentrpc.PauseResult
	started  time.Time
	pausedAt time.Time
	savedAt  time.Time
	resumed  time.Time
	saves    map[string]*agentrpc.SaveResult
	manifest []byte

	renewMu sync.Mutex
	renew   *leaseRenewal // while the guest is paused
}

// perform runs one message; it is called from one goroutine per message,
// with the results handed back to the machine in order by run.
func (d *ckptDriver) perform(ctx context.Context, msg protocol.Msg) (func(), roundStat, error) {
	if msg.Kind == protocol.Round {
		return d.round(ctx, msg)
	}
	apply, err := d.do(ctx, msg)
	return apply, roundStat{}, err
}

// round runs one host's pre-copy round.
func (d *ckptDriver) round(ctx context.Context, msg protocol.Msg) (func(), roundStat, error) {
	h, err := d.s.host(msg.To)
	if err != nil {
		return nil, roundStat{}, err
	}
	d.mu.Lock()
	n := d.rounds[msg.To]
	d.rounds[msg.To] = n + 1
	d.mu.Unlock()
	var res agentrpc.SaveResult
	if err := h.call(ctx, agentrpc.Round, agentrpc.SaveParams{VM: d.l.vm, ID: d.id, Method: d.method, Live: true, Round: n, Incremental: d.parent != ""}, &res); err != nil {
		return nil, roundStat{}, err
	}
	st := roundStat{dirty: res.Dirty, seconds: res.Seconds}
	if res.Piece != nil {
		// What the round wrote, zero pages included: they cost a read and
		// a digest each, and the final pause pays the same.
		st.saved = (res.Piece.Pages) * api.PageSize
	}
	return func() {
		d.preCopy = append(d.preCopy, &res)
		for len(d.roundLog) <= n {
			d.roundLog = append(d.roundLog, api.Round{})
		}
		r := &d.roundLog[n]
		if res.Piece != nil {
			r.Bytes += res.Piece.Bytes
		}
		r.DirtyAfter += res.Dirty
		r.Seconds = max(r.Seconds, res.Seconds)
	}, st, nil
}

func (d *ckptDriver) do(ctx context.Context, msg protocol.Msg) (func(), error) {
	h, err := d.s.host(msg.To)
	if err != nil {
		return nil, err
	}
	vmp := agentrpc.VMParams{VM: d.l.vm}
	cp := agentrpc.CkptParams{VM: d.l.vm, ID: d.id}
	switch msg.Kind {
	case protocol.Pause:
		var res agentrpc.PauseResult
		t := time.Now()
		if err := h.call(ctx, agentrpc.Pause, vmp, &res); err != nil {
			return nil, err
		}
		d.startRenew(ctx, h, res.LeaseSeconds)
		return func() { d.pause, d.pausedAt = res, t }, nil
	case protocol.Save:
		var res agentrpc.SaveResult
		d.mu.Lock()
		round := d.rounds[msg.To]
		d.mu.Unlock()
		if err := h.call(ctx, agentrpc.Save, agentrpc.SaveParams{VM: d.l.vm, ID: d.id, Method: d.method, Live: d.live, Round: round, Incremental: d.parent != ""}, &res); err != nil {
			return nil, err
		}
		if d.parent != "" && res.Base != d.parent {
			// The host's marks start elsewhere: the increment would miss pages.
			return nil, fmt.Errorf("its pages written since a cut are counted from %q, not from the parent %s: take a full checkpoint", res.Base, d.parent)
		}
		return func() { d.saves[msg.To], d.savedAt = &res, time.Now() }, nil
	case protocol.Protect:
		var res agentrpc.ProtectResult
		t := time.Now()
		if err := h.callFor(ctx, agentrpc.Protect, agentrpc.ProtectParams{VM: d.l.vm, ID: d.id, To: d.replicaTargets(msg.To), Parity: d.parity.params()}, &res, 30*time.Minute); err != nil {
			return nil, err
		}
		took := time.Since(t).Seconds()
		return func() {
			d.protected = append(d.protected, res.Replicas...)
			d.parity.add(&res)
			d.protectBytes += res.Bytes
			d.protectedTime = max(d.protectedTime, took)
		}, nil
	case protocol.Resume:
		d.stopRenew()
		err := h.call(ctx, agentrpc.Resume, vmp, nil)
		t := time.Now()
		return func() { d.resumed = t }, err
	case protocol.Commit:
		b, err := d.manifestBytes()
		if err != nil {
			return nil, err
		}
		return nil, h.callFor(ctx, agentrpc.Commit, agentrpc.CommitParams{VM: d.l.vm, ID: d.id, Manifest: b}, nil, 0)
	case protocol.Abort:
		return nil, h.call(ctx, agentrpc.Abort, cp, nil)
	case protocol.Rollback:
		return nil, h.call(ctx, agentrpc.Rollback, cp, nil)
	}
	return nil, fmt.Errorf("checkpoint: no way to perform %s", msg)
}

// manifestBytes builds the manifest from the pause and every save. Commit
// messages are performed concurrently, so it is built under the session lock
// once.
func (d *ckptDriver) manifestBytes() ([]byte, error) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if d.manifest != nil {
		return d.manifest, nil
	}
	vmc := d.s.prof.VM
	m := &ckpt.Manifest{
		Format: ckpt.ManifestFormat, ID: d.id, VM: d.l.vm, Created: d.pausedAt.UTC(), Method: d.method, Live: d.live, Parent: d.parent,
		Driver: vmc.Driver, MemoryBytes: vmc.MemoryBytes, PageSize: api.PageSize, Main: d.l.main,
		Locations: d.pause.Locations, Hosts: d.pause.Hosts,
	}
	// Pre-copy pieces first, in the order they were written, then the final
	// ones: a later piece's copy of a page wins.
	for _, sr := range d.preCopy {
		m.Pieces = append(m.Pieces, *sr.Piece)
		m.Contains = append(m.Contains, sr.Contains...)
	}
	for _, h := range sortedKeys(d.saves) {
		sr := d.saves[h]
		if sr.Piece != nil {
			m.Pieces = append(m.Pieces, *sr.Piece)
		}
		if sr.DeviceState != nil {
			m.DeviceState = sr.DeviceState
		}
		m.Overrides = append(m.Overrides, sr.Overrides...)
		m.Contains = append(m.Contains, sr.Contains...)
	}
	m.Replicas = d.protected
	par, err := d.parity.manifest()
	if err != nil {
		return nil, err
	}
	m.Parity = par
	// The figures the list shows; the pause ends when the last save returned
	// (the guest resumes then), which is before this commit.
	stats, _ := json.Marshal(map[string]float64{
		"seconds":       time.Since(d.started).Seconds(),
		"pause_seconds": d.savedAt.Sub(d.pausedAt).Seconds(),
	})
	m.Stats = stats
	cfg, _ := json.Marshal(d.s.setupParams(d.l))
	m.VMConfig = cfg
	b, err := ckpt.EncodeManifest(m)
	if err != nil {
		return nil, err
	}
	d.manifest = b
	return b, nil
}

func (d *ckptDriver) result(start time.Time) *api.CheckpointResult {
	res := &api.CheckpointResult{ID: d.id, Method: d.method, Live: d.live, Parent: d.parent, Seconds: time.Since(start).Seconds(), Rounds: d.roundLog}
	if !d.pausedAt.IsZero() && !d.resumed.IsZero() {
		res.PauseSeconds = d.resumed.Sub(d.pausedAt).Seconds()
	}
	for _, h := range sortedKeys(d.saves) {
		sr := d.saves[h]
		hr := api.HostResult{Host: h, Seconds: sr.Seconds}
		if sr.Piece != nil {
			hr.Bytes, hr.Pages = sr.Piece.Bytes, sr.Piece.Pages
		}
		if sr.DeviceState != nil {
			hr.Bytes += sr.DeviceState.Bytes
		}
		res.BytesSaved += hr.Bytes
		res.BytesOverNetwork += sr.BytesOverNetwork
		res.PerHost = append(res.PerHost, hr)
	}
	// Pre-copy rounds: their bytes count per host too; everything beyond
	// round 0 is a page saved again.
	for _, sr := range d.preCopy {
		for i := range res.PerHost {
			if res.PerHost[i].Host == sr.Piece.Host {
				res.PerHost[i].Bytes += sr.Piece.Bytes
				res.PerHost[i].Pages += sr.Piece.Pages
			}
		}
		res.BytesSaved += sr.Piece.Bytes
	}
	if len(d.roundLog) > 0 {
		res.BytesAgain = res.BytesSaved - d.roundLog[0].Bytes
	}
	res.ReplicaBytes, res.ReplicaSeconds = d.protectBytes, d.protectedTime
	res.ParityBytes = d.parity.bytes()
	return res
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// emitStep reports each protocol message as a log event.
func (s *Session) emitStep(op, id string) func(protocol.Msg, error) {
	return func(m protocol.Msg, err error) {
		if err != nil {
			s.emit(api.Event{Type: api.EvLog, Level: api.Error, Op: op, ID: id, Host: m.To, Message: fmt.Sprintf("%s %s on %s failed: %v", op, m.Kind, m.To, err)})
			return
		}
		s.emit(api.Event{Type: api.EvLog, Level: api.Info, Op: op, ID: id, Host: m.To, Message: fmt.Sprintf("%s %s on %s done", op, m.Kind, m.To)})
	}
}

// livePolicy is when a live checkpoint's pre-copy ends: after at most 5
// rounds, once what is dirty fits in 4 MiB per host, or when a round stops
// cutting it by a tenth.
// livePolicy is the profile's pre-copy policy (profiles.DefaultPrecopy
// where it sets none).
func (s *Session) livePolicy() protocol.Policy {
	pc := s.prof.Checkpoint.Precopy
	if pc.MaxRounds == 0 {
		pc = profiles.DefaultPrecopy
	}
	return protocol.Policy{MaxRounds: pc.MaxRounds, TargetPause: pc.TargetPause, Shrink: 1 - pc.StopShrink}
}

// replicaTargets are the hosts that keep copies of host's files: the next
// ones around the ring of the VM's hosts.
func (d *ckptDriver) replicaTargets(host string) []string {
	at := 0
	for i, h := range d.ring {
		if h == host {
			at = i
		}
	}
	var out []string
	for k := 1; k <= d.replicas; k++ {
		out = append(out, d.ring[(at+k)%len(d.ring)])
	}
	return out
}

// newID names a checkpoint: method, time, and a random part, so that two
// coordinators of one VM never pick the same name in the same second.
func newID(method string, seq int) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s-%d%s", method, time.Now().UTC().Format("20060102T150405"), seq, hex.EncodeToString(b[:]))
}
