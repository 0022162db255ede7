// Package eventq is one subscriber's queue of events: unbounded and in
// order, drained into a channel by its own goroutine, so a publisher never
// waits for a slow reader. The coordinator's event bus and the recording
// player both hand one to each subscriber.
package eventq

import (
	"sync"

	"dcres/api"
)

// Queue is one subscription.
type Queue struct {
	ch     chan api.Event
	mu     sync.Mutex
	queue  []api.Event
	wake   chan struct{}
	done   chan struct{}
	exited chan struct{}
	once   sync.Once
}

// New starts a queue; Close ends it.
func New() *Queue {
	q := &Queue{ch: make(chan api.Event), wake: make(chan struct{}, 1), done: make(chan struct{}), exited: make(chan struct{})}
	go q.pump()
	return q
}

// C delivers the events; it is closed after Close.
func (q *Queue) C() <-chan api.Event { return q.ch }

// Push queues events.
func (q *Queue) Push(evs ...api.Event) {
	if len(evs) == 0 {
		return
	}
	q.mu.Lock()
	q.queue = append(q.queue, evs...)
	q.mu.Unlock()
	q.poke()
}

// PushUnless queues ev unless skip, shown the events still queued, says no
// (e.g. too many rate samples are waiting already).
func (q *Queue) PushUnless(ev api.Event, skip func(queued []api.Event) bool) {
	q.mu.Lock()
	if skip(q.queue) {
		q.mu.Unlock()
		return
	}
	q.queue = append(q.queue, ev)
	q.mu.Unlock()
	q.poke()
}

func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Close stops delivery (queued events are dropped), closes C and waits for
// the queue's goroutine. It may be called more than once.
func (q *Queue) Close() {
	q.once.Do(func() { close(q.done) })
	<-q.exited
}

func (q *Queue) pump() {
	defer close(q.exited)
	defer close(q.ch)
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.mu.Unlock()
			select {
			case <-q.wake:
				continue
			case <-q.done:
				return
			}
		}
		ev := q.queue[0]
		q.queue = q.queue[1:]
		q.mu.Unlock()
		select {
		case q.ch <- ev:
		case <-q.done:
			return
		}
	}
}
