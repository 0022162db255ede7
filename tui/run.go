package tui

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"dcres/api"
)

// sampleInterval bounds how often rate samples reach the model: at most
// about 10 renders a second from samples, however fast they arrive.
const sampleInterval = 100 * time.Millisecond

// Run runs the console over ctrl until the operator quits or ctx ends. On
// return the subscription is ended and every operation the console started
// has returned (they are cancelled first).
func Run(ctx context.Context, ctrl api.Controller, opt Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := New(ctrl, opt)
	m.cancel() // replace New's own context with one under ctx
	m.ctx, m.cancel = context.WithCancel(ctx)

	var popts []tea.ProgramOption
	popts = append(popts, tea.WithContext(ctx))
	if opt.Input != nil {
		popts = append(popts, tea.WithInput(opt.Input))
	}
	if opt.Output != nil {
		popts = append(popts, tea.WithOutput(opt.Output))
	}
	p := tea.NewProgram(m, popts...)

	events, unsubscribe := ctrl.Subscribe()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pump(ctx, events, p.Send, sampleInterval)
	}()

	_, err := p.Run()
	m.cancel()
	cancel()
	wg.Wait()
	unsubscribe()
	m.waitOps()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		// The caller ended the console; that is not a failure.
		return nil
	}
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}

// isSample tells rate samples, which may be coalesced, from events that
// must all be delivered (op start/done, log, errors, lists, plans).
func isSample(ev api.Event) bool {
	switch ev.Type {
	case api.EvHosts, api.EvGuest, api.EvMemMap, api.EvProgress:
		return ev.Level != api.Error
	}
	return false
}

// sampleKey is what a newer sample replaces: the same type, and for
// progress the same host and operation.
func sampleKey(ev api.Event) string {
	if ev.Type == api.EvProgress && ev.Progress != nil {
		return ev.Type + "/" + ev.Progress.Host + "/" + ev.Progress.ID
	}
	return ev.Type
}

// pump moves events from the subscription to the program in batches. Rate
// samples are coalesced (the newest of each kind wins) and flushed at most
// once per interval; any other event flushes the batch at once, so
// completion and error events are never dropped or delayed. It returns when
// ctx ends or the subscription closes.
func pump(ctx context.Context, events <-chan api.Event, send func(tea.Msg), interval time.Duration) {
	var batch []api.Event
	index := map[string]int{} // sample key -> position in batch
	tick := time.NewTicker(interval)
	defer tick.Stop()
	flush := func() {
		if len(batch) == 0 {
			return
		}
		send(eventsMsg(batch))
		batch = nil
		index = map[string]int{}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				flush()
				send(eventsMsg{{Time: time.Now(), Type: api.EvLog, Level: api.Error,
					Message: "the coordinator ended the event subscription: the display is no longer live; restart the console"}})
				return
			}
			if !isSample(ev) {
				batch = append(batch, ev)
				flush()
				continue
			}
			k := sampleKey(ev)
			if i, ok := index[k]; ok {
				batch[i] = ev
			} else {
				index[k] = len(batch)
				batch = append(batch, ev)
			}
		case <-tick.C:
			flush()
		}
	}
}
