package protocol

import (
	"fmt"
	"time"
)

// Phase is where a machine is.
type Phase string

// Phases, in order; Done and Failed are final.
const (
	PhasePreCopy    Phase = "pre-copy"
	PhasePausing    Phase = "pausing"
	PhaseSaving     Phase = "saving"
	PhaseProtecting Phase = "protecting"
	PhaseCommitting Phase = "committing"
	PhaseCleaning   Phase = "cleaning up"
	PhaseLoading    Phase = "loading"
	PhaseStarting   Phase = "starting"
	PhaseStopping   Phase = "stopping"
	PhaseDone       Phase = "done"
	PhaseFailed     Phase = "failed"
)

// Checkpoint is the stop-and-copy checkpoint protocol for one checkpoint.
// Main is the host that runs the guest; Savers are the hosts that write a
// piece (every host for dcres, the main host alone for traditional).
type Checkpoint struct {
	main    string
	savers  []string
	live    *Policy
	protect bool
	offline bool

	round     int                // pre-copy rounds done
	dirty     int64              // bytes dirty after the last round, all hosts
	lastDirty int64              // the same after the round before
	rounds    []int64            // dirty bytes after each round
	dirtyBy   map[string]int64   // bytes dirty after the last round, per host
	pending   map[string]int64   // the same for the round under way
	rate      map[string]float64 // each host's save rate (bytes/s), from its rounds

	phase     Phase
	out       outbox
	started   bool
	resumed   bool // Resume has been sent
	resumeErr error
	saved     map[string]bool
	commits   map[string]bool // hosts whose commit succeeded
	replied   map[string]bool // hosts whose commit replied
	errs      Errors
}

// NewCheckpoint returns a machine for a checkpoint of the guest on main, saved
// by savers. savers must be non-empty and distinct.
func NewCheckpoint(main string, savers []string) (*Checkpoint, error) {
	if main == "" || len(savers) == 0 {
		return nil, fmt.Errorf("protocol: a checkpoint needs a main host and at least one saver")
	}
	seen := map[string]bool{}
	for _, h := range savers {
		if h == "" || seen[h] {
			return nil, fmt.Errorf("protocol: saver %q is empty or repeated", h)
		}
		seen[h] = true
	}
	return &Checkpoint{
		main: main, savers: append([]string(nil), savers...), phase: PhasePausing,
		saved: map[string]bool{}, commits: map[string]bool{}, replied: map[string]bool{},
	}, nil
}

// Policy decides when a live checkpoint's pre-copy rounds end and the final
// pause begins.
type Policy struct {
	// MaxRounds caps the pre-copy rounds (at least 1).
	MaxRounds int
	// TargetBytes ends pre-copy once every host together holds at most this
	// many dirty bytes (what the final pause will have to save).
	TargetBytes int64
	// TargetPause ends pre-copy once the final pause, foreseen from every
	// host's dirty bytes and save rate (the hosts save in parallel, so the
	// slowest decides), would take at most this long.
	TargetPause time.Duration
	// Shrink ends pre-copy when a round did not cut the dirty bytes below
	// this fraction of the round before (e.g. 0.9): more rounds would not help.
	Shrink float64
}

// ForeseenPause is how long saving what is dirty after the last round
// takes on the slowest host, at the rates its rounds saved at; 0 before a
// round or when no host measured a rate.
func (c *Checkpoint) ForeseenPause() time.Duration {
	var worst float64
	for h, d := range c.dirtyBy {
		if r := c.rate[h]; r > 0 {
			worst = max(worst, float64(d)/r)
		}
	}
	return time.Duration(worst * float64(time.Second))
}

// Live makes c a live checkpoint: pre-copy rounds on every saver while the
// guest runs, then the stop-and-copy protocol for what is still dirty.
func (c *Checkpoint) Live(p Policy) {
	if p.MaxRounds < 1 {
		p.MaxRounds = 1
	}
	c.live = &p
	c.phase = PhasePreCopy
}

// Offline makes c a checkpoint made without the guest: from pieces already
// on the hosts (compaction). No pause, no resume; the same two-phase commit.
func (c *Checkpoint) Offline() {
	c.offline = true
	c.phase = PhaseSaving
}

// Protect adds a redundancy phase: once every save returned and the guest
// runs again, every saver copies its piece to other hosts; only then is the
// checkpoint committed, so a listed checkpoint always has its redundancy.
func (c *Checkpoint) Protect() { c.protect = true }

// Rounds reports the dirty bytes after each pre-copy round.
func (c *Checkpoint) Rounds() []int64 { return append([]int64(nil), c.rounds...) }

// Start returns the first messages. It may be called once.
func (c *Checkpoint) Start() []Msg {
	if c.started {
		return nil
	}
	c.started = true
	var out []Msg
	switch {
	case c.offline:
		for _, h := range c.savers {
			c.out.send(&out, Msg{To: h, Kind: Save})
		}
	case c.live != nil:
		c.sendRound(&out)
	default:
		c.out.send(&out, Msg{To: c.main, Kind: Pause})
	}
	return out
}

func (c *Checkpoint) sendRound(out *[]Msg) {
	c.lastDirty, c.dirty = c.dirty, 0
	c.pending = map[string]int64{}
	for _, h := range c.savers {
		c.out.send(out, Msg{To: h, Kind: Round})
	}
}

// minRateSample is the smallest round that measures a host's save rate.
const minRateSample = 4 << 20

// converged says whether pre-copy should end after the round just done.
func (c *Checkpoint) converged() bool {
	p := c.live
	switch {
	case c.round >= p.MaxRounds:
		return true
	case p.TargetBytes > 0 && c.dirty <= p.TargetBytes:
		return true
	case p.TargetPause > 0 && len(c.rate) > 0 && c.ForeseenPause() <= p.TargetPause:
		return true
	case c.dirty == 0:
		return true
	case c.round > 1 && p.Shrink > 0 && float64(c.dirty) >= p.Shrink*float64(c.lastDirty):
		return true
	}
	return false
}

// Phase reports where the machine is.
func (c *Checkpoint) Phase() Phase { return c.phase }

// Done reports whether the machine has finished: final phase, nothing outstanding.
func (c *Checkpoint) Done() bool {
	return (c.phase == PhaseDone || c.phase == PhaseFailed) && c.out.empty()
}

// Err is nil after a successful checkpoint, else every host failure.
func (c *Checkpoint) Err() error {
	if c.phase == PhaseDone && len(c.errs) == 0 {
		return nil
	}
	if len(c.errs) == 0 {
		return nil
	}
	return c.errs.sorted()
}

// Committed reports whether the checkpoint is committed on every saver.
func (c *Checkpoint) Committed() bool { return c.phase == PhaseDone }

// ResumeErr is the main host's failure to resume the guest, if any: the
// checkpoint may still be committed, but the guest waits for its lease.
func (c *Checkpoint) ResumeErr() error { return c.resumeErr }

// Step feeds one reply and returns the messages to send next. A reply the
// machine did not ask for is ignored.
func (c *Checkpoint) Step(r Reply) []Msg {
	if !c.out.take(r) {
		return nil
	}
	var out []Msg
	switch r.Kind {
	case Round:
		if r.Err != nil {
			c.errs = append(c.errs, HostError{r.From, r.Kind, r.Err})
		}
		c.dirty += r.Dirty
		c.pending[r.From] = r.Dirty
		// A round of a few pages says little about the rate: keep the last
		// rate measured on a round big enough to mean something.
		if r.Seconds > 0 && r.Saved >= minRateSample {
			if c.rate == nil {
				c.rate = map[string]float64{}
			}
			c.rate[r.From] = float64(r.Saved) / r.Seconds
		}
		if c.out.has(Round) {
			return nil
		}
		if len(c.errs) > 0 {
			// The guest never paused: only the partial files need to go.
			c.phase = PhaseCleaning
			for _, h := range c.savers {
				c.out.send(&out, Msg{To: h, Kind: Abort})
			}
			return out
		}
		c.round++
		c.rounds = append(c.rounds, c.dirty)
		c.dirtyBy = c.pending
		if c.converged() {
			c.phase = PhasePausing
			c.out.send(&out, Msg{To: c.main, Kind: Pause})
		} else {
			c.sendRound(&out)
		}
		return out
	case Pause:
		if r.Err != nil {
			c.errs = append(c.errs, HostError{r.From, r.Kind, r.Err})
			c.resume(&out) // a pause may have half happened: resume is idempotent
			c.phase = PhaseFailed
			return out
		}
		c.phase = PhaseSaving
		for _, h := range c.savers {
			c.out.send(&out, Msg{To: h, Kind: Save})
		}
	case Save:
		if r.Err != nil {
			c.errs = append(c.errs, HostError{r.From, r.Kind, r.Err})
		} else {
			c.saved[r.From] = true
		}
		if c.out.has(Save) {
			return nil
		}
		// Every save has returned: the guest may run again whatever happens next.
		c.resume(&out)
		if len(c.errs) > 0 {
			c.phase = PhaseCleaning
			for _, h := range c.savers {
				c.out.send(&out, Msg{To: h, Kind: Abort})
			}
			return out
		}
		if c.protect {
			c.phase = PhaseProtecting
			for _, h := range c.savers {
				c.out.send(&out, Msg{To: h, Kind: Protect})
			}
			return out
		}
		c.commit(&out)
	case Protect:
		if r.Err != nil {
			c.errs = append(c.errs, HostError{r.From, r.Kind, r.Err})
		}
		if c.out.has(Protect) {
			return nil
		}
		if len(c.errs) > 0 {
			c.phase = PhaseCleaning
			for _, h := range c.savers {
				c.out.send(&out, Msg{To: h, Kind: Abort})
			}
			return out
		}
		c.commit(&out)
	case Commit:
		c.replied[r.From] = true
		if r.Err != nil {
			c.errs = append(c.errs, HostError{r.From, r.Kind, r.Err})
		} else {
			c.commits[r.From] = true
		}
		if c.out.has(Commit) {
			return nil
		}
		if len(c.commits) == len(c.savers) {
			c.phase = PhaseDone
			return nil
		}
		// Not committed everywhere: undo it everywhere, so it is never listed.
		// A host whose commit failed may still have committed (a lost reply),
		// so every host gets a rollback, which removes committed and partial
		// files alike.
		c.phase = PhaseCleaning
		for _, h := range c.savers {
			c.out.send(&out, Msg{To: h, Kind: Rollback})
		}
	case Resume:
		if r.Err != nil {
			c.resumeErr = r.Err
			c.errs = append(c.errs, HostError{r.From, r.Kind, r.Err})
		}
	case Abort, Rollback:
		if r.Err != nil {
			c.errs = append(c.errs, HostError{r.From, r.Kind, r.Err})
		}
	}
	if c.phase == PhaseCleaning && !c.out.has(Abort) && !c.out.has(Rollback) {
		c.phase = PhaseFailed
	}
	return out
}

func (c *Checkpoint) commit(out *[]Msg) {
	c.phase = PhaseCommitting
	for _, h := range c.savers {
		c.out.send(out, Msg{To: h, Kind: Commit})
	}
}

func (c *Checkpoint) resume(out *[]Msg) {
	if c.resumed || c.offline {
		return
	}
	c.resumed = true
	c.out.send(out, Msg{To: c.main, Kind: Resume})
}
