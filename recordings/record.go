package recordings

import (
	"context"
	"io"
	"sync"
	"time"

	"dcres/api"
)

// Record subscribes to ctrl, writes hdr to w, and writes every event until
// stop is called or ctx ends. stop first writes the events still arriving
// (until none comes for 100 ms), then ends the subscription, waits for the
// writing goroutine, and returns the first write error (writing stops at
// it). Record never closes w.
func Record(ctx context.Context, ctrl api.Controller, w io.Writer, hdr Header) (stop func() error) {
	start := time.Now() // monotonic: offsets do not jump with the wall clock
	if hdr.Started.IsZero() {
		hdr.Started = start
	}
	rw, err := NewWriter(w, hdr)
	if err != nil {
		return func() error { return err }
	}
	return RecordTo(ctx, ctrl, rw, start)
}

// drainQuiet is how long stop keeps writing events still on their way (the
// result of the operation that just ended) before it ends the subscription.
// drainMax bounds it for a controller that never falls quiet.
const (
	drainQuiet = 100 * time.Millisecond
	drainMax   = time.Second
)

// RecordTo is Record onto a Writer whose header is written; offsets are
// measured from start. stop does not close rw.
func RecordTo(ctx context.Context, ctrl api.Controller, rw *Writer, start time.Time) (stop func() error) {
	events, unsubscribe := ctrl.Subscribe()
	stopping := make(chan struct{})
	var werr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var quiet, deadline <-chan time.Time // set once stopping: end the drain
		for {
			select {
			case <-ctx.Done():
				return
			case <-stopping:
				stopping = nil
				quiet, deadline = time.After(drainQuiet), time.After(drainMax)
			case <-quiet:
				return
			case <-deadline:
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				if werr == nil {
					werr = rw.Write(time.Since(start), ev)
				}
				if quiet != nil {
					quiet = time.After(drainQuiet)
				}
			}
		}
	}()
	var once sync.Once
	return func() error {
		once.Do(func() {
			close(stopping)
			wg.Wait()
			unsubscribe()
		})
		return werr
	}
}
