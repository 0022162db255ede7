package protocol

import (
	"errors"
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// simHost is what a host would hold on disk and in memory, as far as the
// protocol's promises go.
type simHost struct {
	paused    bool
	partial   bool
	committed bool
	loaded    bool
	running   bool
}

// sim delivers a machine's messages in a seeded random order, failing each
// with probability fail, and checks the protocol's invariants as it goes.
type sim struct {
	t      *testing.T
	rng    *rand.Rand
	fail   float64
	hosts  map[string]*simHost
	queue  []Msg
	trace  []string
	failed map[Msg]bool
	// offline: a checkpoint without the guest (compaction): saves need no pause.
	offline bool
	halted  bool
}

func newSim(t *testing.T, seed int64, fail float64, names []string) *sim {
	s := &sim{t: t, rng: rand.New(rand.NewSource(seed)), fail: fail, hosts: map[string]*simHost{}, failed: map[Msg]bool{}}
	for _, n := range names {
		s.hosts[n] = &simHost{}
	}
	return s
}

func (s *sim) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("%s\ntrace: %v", fmt.Sprintf(format, args...), s.trace)
}

// deliver performs m on its host and returns the reply.
func (s *sim) deliver(m Msg) Reply {
	h := s.hosts[m.To]
	fails := s.rng.Float64() < s.fail
	// Idempotent clean-up steps fail rarely in the model too, but they must
	// still leave the machine terminating.
	var err error
	if fails {
		err = errors.New("injected")
		s.failed[m] = true
	}
	switch m.Kind {
	case Round:
		if s.hosts[mainOf(s)].paused {
			s.fatalf("pre-copy round on %s while the guest is paused", m.To)
		}
		if !fails || s.rng.Intn(2) == 0 {
			h.partial = true
		}
	case Pause:
		if !fails || s.rng.Intn(2) == 0 { // a failed pause may still have paused
			h.paused = true
		}
	case Save:
		if !s.offline && !h.paused && !s.hosts[mainOf(s)].paused {
			s.fatalf("save on %s while the guest runs", m.To)
		}
		if !fails || s.rng.Intn(2) == 0 {
			h.partial = true
		}
	case Resume:
		if !fails {
			s.hosts[m.To].paused = false
		}
	case Protect:
		if !h.partial {
			s.fatalf("protect on %s without a saved piece", m.To)
		}
	case Commit:
		if !fails || s.rng.Intn(3) == 0 {
			if !h.partial {
				s.fatalf("commit on %s without a saved piece", m.To)
			}
			if fails { // committed, but the reply was lost: the coordinator sees a failure
				h.committed, h.partial = true, false
			} else {
				h.committed, h.partial = true, false
			}
		}
	case Abort:
		if !fails {
			h.partial = false
		}
	case Rollback:
		if !fails {
			h.committed, h.partial = false, false
		}
	case Stop:
		if !fails {
			h.running, h.loaded = false, false
		}
	case Load:
		if s.hosts[mainOf(s)].running {
			s.fatalf("load on %s while the old guest runs", m.To)
		}
		if !fails {
			h.loaded = true
		}
	case Start:
		for n, o := range s.hosts {
			if s.isTarget(n) && !o.loaded {
				s.fatalf("start while %s has not loaded", n)
			}
		}
		if !fails {
			h.running = true
		}
	case Discard:
		if !fails {
			h.loaded = false
		}
	case Settle:
		if !s.hosts["main"].running && !s.halted {
			s.fatalf("settle on %s before the guest started", m.To)
		}
	case Halt:
		if !fails {
			h.running = false
		}
		s.halted = true
	}
	s.trace = append(s.trace, fmt.Sprintf("%s:%v", m, err != nil))
	r := Reply{From: m.To, Kind: m.Kind, Err: err}
	if m.Kind == Round {
		r.Dirty = int64(s.rng.Intn(200))
	}
	return r
}

var simTargets map[string]bool

func (s *sim) isTarget(n string) bool { return simTargets == nil || simTargets[n] }

func mainOf(*sim) string { return "main" }

type machine interface {
	Start() []Msg
	Step(Reply) []Msg
	Done() bool
}

func (s *sim) run(m machine) {
	s.queue = append(s.queue, m.Start()...)
	for steps := 0; len(s.queue) > 0; steps++ {
		if steps > 10000 {
			s.fatalf("no end after %d steps", steps)
		}
		i := s.rng.Intn(len(s.queue))
		msg := s.queue[i]
		s.queue = append(s.queue[:i], s.queue[i+1:]...)
		s.queue = append(s.queue, m.Step(s.deliver(msg))...)
	}
	if !m.Done() {
		s.fatalf("quiet but not done")
	}
}

func hostNames(n int) []string {
	names := []string{"main"}
	for i := 1; i < n; i++ {
		names = append(names, fmt.Sprintf("sub%d", i))
	}
	return names
}

// TestCheckpointSimulation drives the checkpoint machine through thousands of
// seeded schedules with failures in every phase. Whatever happens: saves run
// only while the guest is paused; resume is always sent once, after every save
// returned; and at the end the checkpoint is either committed on every host,
// or committed on none (the listed-means-complete promise).
func TestCheckpointSimulation(t *testing.T) {
	simTargets = nil
	for seed := int64(0); seed < 3000; seed++ {
		rng := rand.New(rand.NewSource(seed))
		n := 1 + rng.Intn(6)
		names := hostNames(n)
		savers := names
		if rng.Intn(4) == 0 { // traditional: the main host alone saves
			savers = names[:1]
		}
		fail := []float64{0, 0.05, 0.2}[rng.Intn(3)]
		s := newSim(t, seed, fail, names)
		c, err := NewCheckpoint("main", savers)

		if err != nil {
			t.Fatal(err)
		}
		if rng.Intn(3) == 0 {
			c.Protect()
		}
		offline := rng.Intn(5) == 0
		if offline {
			c.Offline()
			s.offline = true
		}
		live := !offline && rng.Intn(2) == 0
		if live {
			c.Live(Policy{MaxRounds: 1 + rng.Intn(4), TargetBytes: int64(rng.Intn(100)), Shrink: 0.9})
		}
		resumes, pauses := 0, 0
		first := c.Start()
		for _, m := range first {
			if m.Kind == Pause {
				pauses++
			}
		}
		s.queue = append(s.queue, first...)
		savesOpen := 0
		for steps := 0; len(s.queue) > 0; steps++ {
			if steps > 10000 {
				s.fatalf("seed %d: no end", seed)
			}
			i := s.rng.Intn(len(s.queue))
			msg := s.queue[i]
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			next := c.Step(s.deliver(msg))
			for _, nm := range next {
				switch nm.Kind {
				case Save:
					savesOpen++
				case Resume:
					resumes++
				case Pause:
					pauses++
				}
			}
			if msg.Kind == Save {
				savesOpen--
			}
			for _, nm := range next {
				if nm.Kind == Resume && savesOpen > 0 {
					s.fatalf("seed %d: resume sent while %d saves are open", seed, savesOpen)
				}
			}
			s.queue = append(s.queue, next...)
		}
		if !c.Done() {
			s.fatalf("seed %d: quiet but not done", seed)
		}
		if resumes != pauses || pauses > 1 || (!live && !offline && pauses != 1) || (offline && pauses != 0) {
			s.fatalf("seed %d: pause sent %d times, resume %d times", seed, pauses, resumes)
		}
		committed := 0
		for _, h := range savers {
			if s.hosts[h].committed {
				committed++
			}
		}
		if c.Committed() {
			if c.Err() != nil && c.ResumeErr() == nil {
				s.fatalf("seed %d: committed with errors %v", seed, c.Err())
			}
			if committed != len(savers) {
				s.fatalf("seed %d: reported committed but %d of %d hosts are", seed, committed, len(savers))
			}
			continue
		}
		if c.Err() == nil {
			s.fatalf("seed %d: failed without an error", seed)
		}
		// A failed checkpoint may leave a host committed only where its
		// rollback itself failed; the error must then name that host.
		for _, h := range savers {
			if s.hosts[h].committed && !s.failed[Msg{To: h, Kind: Rollback}] {
				s.fatalf("seed %d: %s still holds a failed checkpoint", seed, h)
			}
		}
	}
}

// TestRestoreSimulation: loads run only after the main host stopped the old
// guest, start only after every target loaded, and a failed restore leaves
// the guest stopped.
func TestRestoreSimulation(t *testing.T) {
	defer func() { simTargets = nil }()
	for seed := int64(0); seed < 3000; seed++ {
		rng := rand.New(rand.NewSource(seed))
		n := 1 + rng.Intn(6)
		names := hostNames(n)
		old := names[:1+rng.Intn(n)]
		targets := []string{"main"}
		simTargets = map[string]bool{"main": true}
		for _, h := range names[1:] {
			if rng.Intn(2) == 0 {
				targets = append(targets, h)
				simTargets[h] = true
			}
		}
		fail := []float64{0, 0.05, 0.2}[rng.Intn(3)]
		s := newSim(t, seed, fail, names)
		s.hosts["main"].running = true
		r, err := NewRestore("main", targets, old)
		if err != nil {
			t.Fatal(err)
		}
		if rng.Intn(2) == 0 {
			r.Lazy()
		}
		s.run(r)
		if r.Err() == nil && !s.hosts["main"].running {
			s.fatalf("seed %d: restore succeeded but the guest is not running", seed)
		}
		if r.Err() != nil && r.Phase() == PhaseDone {
			s.fatalf("seed %d: done with errors", seed)
		}
		if r.Err() != nil && s.hosts["main"].running && !s.failed[Msg{To: "main", Kind: Stop}] && !s.failed[Msg{To: "main", Kind: Halt}] {
			s.fatalf("seed %d: failed restore left a guest running: %v", seed, r.Err())
		}
	}
}

func TestMachinesRejectBadInput(t *testing.T) {
	if _, err := NewCheckpoint("", []string{"a"}); err == nil {
		t.Error("empty main accepted")
	}
	if _, err := NewCheckpoint("main", []string{"main", "main"}); err == nil {
		t.Error("repeated saver accepted")
	}
	if _, err := NewRestore("main", []string{"sub1"}, nil); err == nil {
		t.Error("restore without the main host accepted")
	}
	c, _ := NewCheckpoint("main", []string{"main"})
	if out := c.Step(Reply{From: "main", Kind: Commit}); out != nil {
		t.Errorf("unasked reply produced %v", out)
	}
}

func TestCheckpointHappyPath(t *testing.T) {
	c, _ := NewCheckpoint("main", []string{"main", "sub1"})
	if got := fmt.Sprint(c.Start()); got != "[pause->main]" {
		t.Fatalf("start: %s", got)
	}
	got := fmt.Sprint(c.Step(Reply{From: "main", Kind: Pause}))
	if got != "[save->main save->sub1]" {
		t.Fatalf("after pause: %s", got)
	}
	if out := c.Step(Reply{From: "sub1", Kind: Save}); len(out) != 0 {
		t.Fatalf("resumed before every save returned: %v", out)
	}
	got = fmt.Sprint(c.Step(Reply{From: "main", Kind: Save}))
	if got != "[resume->main commit->main commit->sub1]" {
		t.Fatalf("after saves: %s", got)
	}
	c.Step(Reply{From: "main", Kind: Resume})
	c.Step(Reply{From: "main", Kind: Commit})
	c.Step(Reply{From: "sub1", Kind: Commit})
	if !c.Done() || !c.Committed() || c.Err() != nil {
		t.Fatalf("not committed: %v %v", c.Phase(), c.Err())
	}
}

func TestCommitFailureRollsBack(t *testing.T) {
	c, _ := NewCheckpoint("main", []string{"main", "sub1"})
	c.Start()
	c.Step(Reply{From: "main", Kind: Pause})
	c.Step(Reply{From: "main", Kind: Save})
	c.Step(Reply{From: "sub1", Kind: Save})
	c.Step(Reply{From: "main", Kind: Resume})
	c.Step(Reply{From: "main", Kind: Commit})
	got := fmt.Sprint(c.Step(Reply{From: "sub1", Kind: Commit, Err: errors.New("disk full")}))
	if got != "[rollback->main rollback->sub1]" {
		t.Fatalf("after a failed commit: %s", got)
	}
	c.Step(Reply{From: "main", Kind: Rollback})
	c.Step(Reply{From: "sub1", Kind: Rollback})
	if !c.Done() || c.Committed() || c.Err() == nil {
		t.Fatalf("phase %v err %v", c.Phase(), c.Err())
	}
}

func TestLiveRoundsConverge(t *testing.T) {
	c, _ := NewCheckpoint("main", []string{"main", "sub1"})
	c.Live(Policy{MaxRounds: 5, TargetBytes: 100, Shrink: 0.9})
	if got := fmt.Sprint(c.Start()); got != "[round->main round->sub1]" {
		t.Fatalf("start: %s", got)
	}
	c.Step(Reply{From: "main", Kind: Round, Dirty: 1000})
	got := fmt.Sprint(c.Step(Reply{From: "sub1", Kind: Round, Dirty: 1000}))
	if got != "[round->main round->sub1]" {
		t.Fatalf("after a round with 2000 dirty bytes: %s", got)
	}
	c.Step(Reply{From: "main", Kind: Round, Dirty: 30})
	got = fmt.Sprint(c.Step(Reply{From: "sub1", Kind: Round, Dirty: 40}))
	if got != "[pause->main]" {
		t.Fatalf("after a round with 70 dirty bytes (target 100): %s", got)
	}
	if r := c.Rounds(); len(r) != 2 || r[0] != 2000 || r[1] != 70 {
		t.Fatalf("rounds: %v", r)
	}
}

func TestLiveRoundsStopWhenNotShrinking(t *testing.T) {
	c, _ := NewCheckpoint("main", []string{"main"})
	c.Live(Policy{MaxRounds: 10, TargetBytes: 0, Shrink: 0.9})
	c.Start()
	c.Step(Reply{From: "main", Kind: Round, Dirty: 1000})
	c.Step(Reply{From: "main", Kind: Round, Dirty: 800})
	if got := fmt.Sprint(c.Step(Reply{From: "main", Kind: Round, Dirty: 790})); got != "[pause->main]" {
		t.Fatalf("a round that cut dirty bytes by 1%% should end pre-copy: %s", got)
	}
}

// The final pause is foreseen from each host's rate: the slowest host
// decides, since the hosts save in parallel.
func TestLiveRoundsStopAtTargetPause(t *testing.T) {
	c, _ := NewCheckpoint("main", []string{"main", "sub1"})
	c.Live(Policy{MaxRounds: 10, TargetPause: 50 * time.Millisecond})
	c.Start()
	// Round 1: main saves at 100 MB/s, sub1 at 10 MB/s; 1 MB dirty on sub1
	// is 100 ms, over the target.
	c.Step(Reply{From: "main", Kind: Round, Dirty: 8 << 20, Saved: 100e6, Seconds: 1})
	got := fmt.Sprint(c.Step(Reply{From: "sub1", Kind: Round, Dirty: 1e6, Saved: 10e6, Seconds: 1}))
	if got != "[round->main round->sub1]" || c.ForeseenPause() != 100*time.Millisecond {
		t.Fatalf("foreseen %v: %s", c.ForeseenPause(), got)
	}
	// Round 2 is too small to measure a rate; the ones of round 1 hold:
	// main 4 MB at 100 MB/s is 40 ms, sub1 0.3 MB at 10 MB/s 30 ms.
	c.Step(Reply{From: "main", Kind: Round, Dirty: 4e6, Saved: 1 << 10, Seconds: 0.5})
	got = fmt.Sprint(c.Step(Reply{From: "sub1", Kind: Round, Dirty: 3e5, Saved: 1 << 10, Seconds: 0.5}))
	if got != "[pause->main]" || c.ForeseenPause() != 40*time.Millisecond {
		t.Fatalf("foreseen %v: %s", c.ForeseenPause(), got)
	}
}
