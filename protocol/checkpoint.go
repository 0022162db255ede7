package protocol

import "fmt"

// Phase is where a machine is.
type Phase string

// Phases, in order; Done and Failed are final.
const (
	PhasePausing    Phase = "pausing"
	PhaseSaving     Phase = "saving"
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
	main   string
	savers []string

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

// Start returns the first messages. It may be called once.
func (c *Checkpoint) Start() []Msg {
	if c.started {
		return nil
	}
	c.started = true
	var out []Msg
	c.out.send(&out, Msg{To: c.main, Kind: Pause})
	return out
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
		c.phase = PhaseCommitting
		for _, h := range c.savers {
			c.out.send(&out, Msg{To: h, Kind: Commit})
		}
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

func (c *Checkpoint) resume(out *[]Msg) {
	if c.resumed {
		return
	}
	c.resumed = true
	c.out.send(out, Msg{To: c.main, Kind: Resume})
}
