package protocol

import "fmt"

// Restore is the restore protocol for one restore: the main host stops the
// current guest (and every host drops its old pages), every target loads its
// share in parallel, and the main host starts the guest only when every load
// succeeded.
type Restore struct {
	main    string
	targets []string
	hosts   []string // every host that held the VM before: stopped first

	phase   Phase
	out     outbox
	started bool
	loaded  map[string]bool
	errs    Errors
	lazy    bool
	running bool // lazy: the guest was started
}

// Lazy makes r a lazy restore: the homes' loads return at once and go on in
// the background, the guest starts when the main host has loaded its part,
// and the restore ends when every home settled; a home that fails after the
// start halts the guest, which is never left running on missing pages.
func (r *Restore) Lazy() { r.lazy = true }

// Running reports whether a lazy restore's guest was started.
func (r *Restore) Running() bool { return r.running }

// NewRestore returns a machine restoring onto targets (which include main),
// after stopping the VM on every host in old.
func NewRestore(main string, targets, old []string) (*Restore, error) {
	if main == "" || len(targets) == 0 {
		return nil, fmt.Errorf("protocol: a restore needs a main host and at least one target")
	}
	hasMain := false
	seen := map[string]bool{}
	for _, h := range targets {
		if h == "" || seen[h] {
			return nil, fmt.Errorf("protocol: target %q is empty or repeated", h)
		}
		seen[h] = true
		hasMain = hasMain || h == main
	}
	if !hasMain {
		return nil, fmt.Errorf("protocol: the main host %q must be a restore target", main)
	}
	stop := append([]string(nil), targets...)
	for _, h := range old {
		if !seen[h] {
			seen[h] = true
			stop = append(stop, h)
		}
	}
	return &Restore{main: main, targets: append([]string(nil), targets...), hosts: stop,
		phase: PhaseStopping, loaded: map[string]bool{}}, nil
}

// Start returns the first messages.
func (r *Restore) Start() []Msg {
	if r.started {
		return nil
	}
	r.started = true
	var out []Msg
	// The main host first, so the guest stops before any home drops its pages;
	// the others stop in the same round since the order of their replies does
	// not matter once the main host is stopped (see Step).
	r.out.send(&out, Msg{To: r.main, Kind: Stop})
	return out
}

// Phase reports where the machine is.
func (r *Restore) Phase() Phase { return r.phase }

// Done reports whether the machine has finished.
func (r *Restore) Done() bool {
	return (r.phase == PhaseDone || r.phase == PhaseFailed) && r.out.empty()
}

// Err is nil after a successful restore.
func (r *Restore) Err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return r.errs.sorted()
}

// Step feeds one reply and returns the next messages.
func (r *Restore) Step(rep Reply) []Msg {
	if !r.out.take(rep) {
		return nil
	}
	var out []Msg
	if rep.Err != nil {
		r.errs = append(r.errs, HostError{rep.From, rep.Kind, rep.Err})
	}
	switch rep.Kind {
	case Stop:
		if rep.From == r.main {
			if rep.Err != nil {
				// The old guest may still run: touch nothing else.
				r.phase = PhaseFailed
				return nil
			}
			for _, h := range r.hosts {
				if h != r.main {
					r.out.send(&out, Msg{To: h, Kind: Stop})
				}
			}
		}
		if r.out.has(Stop) {
			return out
		}
		if len(r.errs) > 0 {
			r.phase = PhaseFailed
			return out
		}
		r.phase = PhaseLoading
		for _, h := range r.targets {
			r.out.send(&out, Msg{To: h, Kind: Load})
		}
	case Load:
		if rep.Err == nil {
			r.loaded[rep.From] = true
		}
		if r.out.has(Load) {
			return nil
		}
		if len(r.errs) > 0 {
			r.discard(&out)
			return out
		}
		r.phase = PhaseStarting
		r.out.send(&out, Msg{To: r.main, Kind: Start})
	case Start:
		if rep.Err != nil {
			r.discard(&out)
			return out
		}
		if r.lazy {
			r.running = true
			for _, h := range r.targets {
				if h != r.main {
					r.out.send(&out, Msg{To: h, Kind: Settle})
				}
			}
			if len(out) > 0 {
				return out
			}
		}
		r.phase = PhaseDone
	case Settle:
		if r.out.has(Settle) {
			return nil
		}
		if len(r.errs) > 0 {
			// Pages are missing: the guest must not run on.
			r.running = false
			r.out.send(&out, Msg{To: r.main, Kind: Halt})
			r.discard(&out)
			return out
		}
		r.phase = PhaseDone
	case Halt, Discard:
	}
	if r.phase == PhaseCleaning && !r.out.has(Discard) {
		r.phase = PhaseFailed
	}
	return out
}

// discard drops what every target loaded; the guest stays stopped.
func (r *Restore) discard(out *[]Msg) {
	r.phase = PhaseCleaning
	for _, h := range r.targets {
		r.out.send(out, Msg{To: h, Kind: Discard})
	}
}
