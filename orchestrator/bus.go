package orchestrator

import (
	"sync"

	"dcres/api"
)

// bus fans events out to subscribers. A slow subscriber loses rate samples
// (hosts, guest and progress figures, which the next sample replaces) but
// never a completion, log or error event.
type bus struct {
	mu     sync.Mutex
	subs   map[*sub]bool
	closed bool
	// sticky holds the latest event of each state type, given to every new
	// subscriber first, so a console that opens late still sees the hosts,
	// the guest, the memory map and the checkpoint list.
	sticky map[string]api.Event
}

// stickyTypes are the events that describe state rather than happenings.
var stickyTypes = map[string]bool{api.EvHosts: true, api.EvGuest: true, api.EvMemMap: true, api.EvCheckpoints: true}

type sub struct {
	ch    chan api.Event
	mu    sync.Mutex
	queue []api.Event
	wake  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// maxQueuedSamples is how many samples may wait for a slow subscriber.
const maxQueuedSamples = 64

func newBus() *bus { return &bus{subs: map[*sub]bool{}, sticky: map[string]api.Event{}} }

func isSample(ev api.Event) bool {
	return ev.Type == api.EvHosts || ev.Type == api.EvGuest || ev.Type == api.EvProgress
}

func (b *bus) subscribe() (<-chan api.Event, func()) {
	s := &sub{ch: make(chan api.Event), wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		close(s.ch)
		return s.ch, func() {}
	}
	b.subs[s] = true
	for _, t := range []string{api.EvHosts, api.EvGuest, api.EvMemMap, api.EvCheckpoints} {
		if ev, ok := b.sticky[t]; ok {
			s.push(ev)
		}
	}
	b.mu.Unlock()
	go s.pump()
	return s.ch, func() {
		b.mu.Lock()
		delete(b.subs, s)
		b.mu.Unlock()
		s.stop()
	}
}

func (b *bus) publish(ev api.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if stickyTypes[ev.Type] {
		b.sticky[ev.Type] = ev
	}
	for s := range b.subs {
		s.push(ev)
	}
}

func (b *bus) close() {
	b.mu.Lock()
	subs := b.subs
	b.subs = map[*sub]bool{}
	b.closed = true
	b.mu.Unlock()
	for s := range subs {
		s.stop()
	}
}

func (s *sub) push(ev api.Event) {
	s.mu.Lock()
	if isSample(ev) {
		n := 0
		for _, q := range s.queue {
			if isSample(q) {
				n++
			}
		}
		if n >= maxQueuedSamples {
			s.mu.Unlock()
			return
		}
	}
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sub) stop() { s.once.Do(func() { close(s.done) }) }

// pump delivers queued events in order until stopped, then closes ch.
func (s *sub) pump() {
	defer close(s.ch)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			select {
			case <-s.wake:
				continue
			case <-s.done:
				return
			}
		}
		ev := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		select {
		case s.ch <- ev:
		case <-s.done:
			return
		}
	}
}
