package orchestrator

import (
	"sync"

	"dcres/api"
	"dcres/internal/eventq"
)

// bus fans events out to subscribers. A slow subscriber loses rate samples
// (hosts, guest and progress figures, which the next sample replaces) but
// never a completion, log or error event.
type bus struct {
	mu     sync.Mutex
	subs   map[*eventq.Queue]bool
	closed bool
	// sticky holds the latest event of each state type, given to every new
	// subscriber first, so a console that opens late still sees the hosts,
	// the guest, the memory map and the checkpoint list.
	sticky map[string]api.Event
}

// stickyTypes are the events that describe state rather than happenings.
var stickyTypes = map[string]bool{api.EvHosts: true, api.EvGuest: true, api.EvMemMap: true, api.EvCheckpoints: true}

// maxQueuedSamples is how many samples may wait for a slow subscriber.
const maxQueuedSamples = 64

func newBus() *bus { return &bus{subs: map[*eventq.Queue]bool{}, sticky: map[string]api.Event{}} }

func isSample(ev api.Event) bool {
	return ev.Type == api.EvHosts || ev.Type == api.EvGuest || ev.Type == api.EvProgress
}

func (b *bus) subscribe() (<-chan api.Event, func()) {
	q := eventq.New()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		q.Close()
		return q.C(), func() {}
	}
	b.subs[q] = true
	for _, t := range []string{api.EvHosts, api.EvGuest, api.EvMemMap, api.EvCheckpoints} {
		if ev, ok := b.sticky[t]; ok {
			q.Push(ev)
		}
	}
	b.mu.Unlock()
	return q.C(), func() {
		b.mu.Lock()
		delete(b.subs, q)
		b.mu.Unlock()
		q.Close()
	}
}

func (b *bus) publish(ev api.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if stickyTypes[ev.Type] {
		b.sticky[ev.Type] = ev
	}
	for q := range b.subs {
		if isSample(ev) {
			q.PushUnless(ev, tooManySamples)
		} else {
			q.Push(ev)
		}
	}
}

// tooManySamples says a slow subscriber has enough rate samples waiting.
func tooManySamples(queued []api.Event) bool {
	n := 0
	for _, q := range queued {
		if isSample(q) {
			n++
		}
	}
	return n >= maxQueuedSamples
}

func (b *bus) close() {
	b.mu.Lock()
	subs := b.subs
	b.subs = map[*eventq.Queue]bool{}
	b.closed = true
	b.mu.Unlock()
	for q := range subs {
		q.Close()
	}
}
