package recordings

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"dcres/api"
	"dcres/internal/eventq"
)

// ErrReadOnly is what a Player returns for every operation.
var ErrReadOnly = errors.New("this is a replay: read-only (checkpoint, restore, verify and delete need a live session: dcres lab or dcres console)")

// EvReplayReset is the type of the event a Player sends before it replays
// the recording again from the start after a seek backwards: a face that
// keeps history (the event log) should clear it on this event.
const EvReplayReset = "replay-reset"

// Speed limits of a Player.
const (
	MinSpeed = 0.25
	MaxSpeed = 100
)

// Player replays a Recording. It implements api.Controller (read-only) and
// api.Player. Events reach subscribers at their recorded offsets scaled by
// the speed; a new subscriber, and every subscriber after a seek, first gets
// the state up to the position at once (rate samples condensed to the
// newest of each kind). Playback starts at once, at 1x.
type Player struct {
	rec   *Recording
	clock Clock

	mu     sync.Mutex
	base   time.Duration // the position at anchor
	anchor time.Time
	paused bool
	speed  float64
	next   int  // index of the next event to deliver
	ended  bool // the end notice was sent
	subs   map[*eventq.Queue]bool
	wake   chan struct{}
	quit   chan struct{} // ends the driver; nil while none runs
	done   chan struct{} // closed when the driver has returned
}

var (
	_ api.Controller = (*Player)(nil)
	_ api.Player     = (*Player)(nil)
)

// NewPlayer returns a Player of rec on the system clock.
func NewPlayer(rec *Recording) *Player { return NewPlayerClock(rec, SystemClock{}) }

// NewPlayerClock returns a Player of rec on clock.
func NewPlayerClock(rec *Recording, clock Clock) *Player {
	return &Player{rec: rec, clock: clock, anchor: clock.Now(), speed: 1,
		subs: map[*eventq.Queue]bool{}, wake: make(chan struct{}, 1)}
}

// Recording returns the recording played.
func (p *Player) Recording() *Recording { return p.rec }

// Now is the recorded wall time at the current position, for the console's
// clock (tui.Options.Now).
func (p *Player) Now() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rec.Header.Started.Add(p.position())
}

// position is the current offset; p.mu held.
func (p *Player) position() time.Duration {
	at := p.base
	if !p.paused {
		at += time.Duration(math.Round(float64(p.clock.Now().Sub(p.anchor)) * p.speed))
	}
	return min(max(at, 0), p.rec.Duration())
}

// reanchor fixes the current position as the base; p.mu held.
func (p *Player) reanchor() {
	p.base = p.position()
	p.anchor = p.clock.Now()
}

func (p *Player) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// upTo is how many events lie at or before at.
func (p *Player) upTo(at time.Duration) int {
	evs := p.rec.Events
	return sort.Search(len(evs), func(i int) bool { return evs[i].T > at })
}

// Position returns the current offset and the recording's length.
func (p *Player) Position() (at, total time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.position(), p.rec.Duration()
}

// TogglePause pauses or resumes.
func (p *Player) TogglePause() {
	p.mu.Lock()
	p.reanchor()
	p.paused = !p.paused
	p.mu.Unlock()
	p.poke()
}

// Paused says whether the replay is paused.
func (p *Player) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

// SetSpeed sets the speed, clamped to MinSpeed..MaxSpeed.
func (p *Player) SetSpeed(x float64) {
	if math.IsNaN(x) {
		return
	}
	p.mu.Lock()
	p.reanchor()
	p.speed = min(max(x, MinSpeed), MaxSpeed)
	p.mu.Unlock()
	p.poke()
}

// Speed is the current speed.
func (p *Player) Speed() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.speed
}

// Step moves the position to the next undelivered event, which the
// subscribers then get at once.
func (p *Player) Step() {
	p.mu.Lock()
	p.reanchor()
	if p.next < len(p.rec.Events) {
		p.base = max(p.base, p.rec.Events[p.next].T)
	}
	p.mu.Unlock()
	p.poke()
}

// Seek jumps to offset to (clamped to the recording). The state at to is
// rebuilt at once: forwards, the skipped events are delivered condensed;
// backwards, an EvReplayReset event is sent and then the state from the
// start.
func (p *Player) Seek(to time.Duration) {
	p.mu.Lock()
	to = min(max(to, 0), p.rec.Duration())
	n := p.upTo(to)
	if len(p.subs) > 0 {
		if n < p.next {
			p.broadcast(api.Event{Time: p.rec.Header.Started.Add(to), Type: EvReplayReset, Level: api.Info,
				Message: "replay: seek back to " + fmtOffset(to) + "; the views are rebuilt from the start"})
			p.broadcast(p.condense(0, n)...)
		} else {
			p.broadcast(p.condense(p.next, n)...)
		}
	}
	p.next = n
	p.base, p.anchor = to, p.clock.Now()
	p.mu.Unlock()
	p.poke()
}

// condense returns events [lo, hi) with rate samples reduced to the newest
// of each kind, plus the end notice when hi is the end; p.mu held.
func (p *Player) condense(lo, hi int) []api.Event {
	var out []api.Event
	dead := map[int]bool{}
	last := map[string]int{}
	for _, e := range p.rec.Events[lo:hi] {
		if isSample(e.Ev) {
			k := sampleKey(e.Ev)
			if i, ok := last[k]; ok {
				dead[i] = true
			}
			last[k] = len(out)
		}
		out = append(out, e.Ev)
	}
	kept := out[:0]
	for i, ev := range out {
		if !dead[i] {
			kept = append(kept, ev)
		}
	}
	p.ended = false
	if hi == len(p.rec.Events) {
		kept = append(kept, p.endNotice())
		p.ended = true
	}
	return kept
}

func (p *Player) endNotice() api.Event {
	ev := api.Event{Time: p.rec.Header.Started.Add(p.rec.Duration()), Type: api.EvLog, Level: api.Info,
		Message: "replay: end of the recording at " + fmtOffset(p.rec.Duration()) + " (seek to go back)"}
	if n := len(p.rec.Events); n > 0 {
		ev.Time = p.rec.Events[n-1].Ev.Time
	}
	if p.rec.Damage != nil {
		ev.Level = api.Warn
		ev.Message = "replay: stopped at the damage: " + p.rec.Damage.Error()
	}
	return ev
}

func isSample(ev api.Event) bool {
	switch ev.Type {
	case api.EvHosts, api.EvGuest, api.EvMemMap, api.EvProgress:
		return ev.Level != api.Error
	}
	return false
}

func sampleKey(ev api.Event) string {
	if ev.Type == api.EvProgress && ev.Progress != nil {
		return ev.Type + "/" + ev.Progress.Host + "/" + ev.Progress.ID
	}
	return ev.Type
}

func fmtOffset(d time.Duration) string {
	d = d.Round(100 * time.Millisecond)
	return fmt.Sprintf("%d:%04.1f", int(d/time.Minute), (d % time.Minute).Seconds())
}

// broadcast queues evs for every subscriber; p.mu held.
func (p *Player) broadcast(evs ...api.Event) {
	for s := range p.subs {
		s.Push(evs...)
	}
}

// Subscribe returns the replayed events. The first subscriber starts the
// delivering goroutine; the last one's unsubscribe ends it.
func (p *Player) Subscribe() (<-chan api.Event, func()) {
	s := eventq.New()
	p.mu.Lock()
	if len(p.subs) == 0 {
		p.next = p.upTo(p.position())
		p.quit, p.done = make(chan struct{}), make(chan struct{})
		go p.drive(p.quit, p.done)
	}
	p.subs[s] = true
	s.Push(p.condense(0, p.next)...)
	p.mu.Unlock()
	var once sync.Once
	return s.C(), func() { once.Do(func() { p.unsubscribe(s) }) }
}

func (p *Player) unsubscribe(s *eventq.Queue) {
	p.mu.Lock()
	if !p.subs[s] {
		p.mu.Unlock()
		return // Close ended it already
	}
	delete(p.subs, s)
	var quit, done chan struct{}
	if len(p.subs) == 0 && p.quit != nil {
		quit, done = p.quit, p.done
		p.quit, p.done = nil, nil
	}
	p.mu.Unlock()
	if quit != nil {
		close(quit)
		<-done
	}
	s.Close()
}

// Close ends every subscription and waits for the player's goroutines.
func (p *Player) Close() {
	p.mu.Lock()
	subs := make([]*eventq.Queue, 0, len(p.subs))
	for s := range p.subs {
		subs = append(subs, s)
	}
	p.mu.Unlock()
	for _, s := range subs {
		p.unsubscribe(s)
	}
}

// drive delivers events as the position passes them, until quit.
func (p *Player) drive(quit <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	evs := p.rec.Events
	for {
		p.mu.Lock()
		now := p.clock.Now()
		at := p.position()
		for p.next < len(evs) && evs[p.next].T <= at {
			p.broadcast(evs[p.next].Ev)
			p.next++
		}
		if p.next == len(evs) && !p.ended {
			p.broadcast(p.endNotice())
			p.ended = true
		}
		wait := time.Duration(-1)
		if !p.paused && p.next < len(evs) {
			wait = time.Duration(math.Ceil(float64(evs[p.next].T-at) / p.speed))
		}
		p.mu.Unlock()
		var timer <-chan time.Time
		stop := func() {}
		if wait >= 0 {
			timer, stop = p.clock.TimerAt(now.Add(wait))
		}
		select {
		case <-quit:
			stop()
			return
		case <-p.wake:
		case <-timer:
		}
		stop()
	}
}

// List returns the checkpoint list as of the current position.
func (p *Player) List(ctx context.Context) ([]api.CheckpointInfo, error) {
	p.mu.Lock()
	n := p.upTo(p.position())
	p.mu.Unlock()
	for i := n - 1; i >= 0; i-- {
		if ev := p.rec.Events[i].Ev; ev.Type == api.EvCheckpoints {
			return append([]api.CheckpointInfo(nil), ev.Checkpoints...), nil
		}
	}
	return nil, nil
}

// Checkpoint returns ErrReadOnly.
func (p *Player) Checkpoint(context.Context, api.CheckpointRequest) (*api.CheckpointResult, error) {
	return nil, ErrReadOnly
}

// Restore returns ErrReadOnly.
func (p *Player) Restore(context.Context, api.RestoreRequest) (*api.RestoreResult, error) {
	return nil, ErrReadOnly
}

// Verify returns ErrReadOnly.
func (p *Player) Verify(context.Context, string) (*api.VerifyResult, error) {
	return nil, ErrReadOnly
}

// Delete returns ErrReadOnly.
func (p *Player) Delete(context.Context, string) error { return ErrReadOnly }
