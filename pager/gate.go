package pager

import (
	"context"
	"errors"
	"sync"
)

// gate admits Access calls and lets Quiesce close the door and wait for the
// calls already inside (with their faults and write-backs) to leave.
type gate struct {
	mu     sync.Mutex
	closed bool
	open   chan struct{} // closed by Resume; waited on by callers at a closed gate
	active int
	idle   chan struct{} // closed when active drops to zero while Quiesce waits
}

func (g *gate) enter(ctx context.Context) error {
	for {
		g.mu.Lock()
		if !g.closed {
			g.active++
			g.mu.Unlock()
			return nil
		}
		open := g.open
		g.mu.Unlock()
		select {
		case <-open:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (g *gate) leave() {
	g.mu.Lock()
	g.active--
	if g.active == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
	g.mu.Unlock()
}

var errQuiesced = errors.New("pager: already quiesced; call Resume first")

func (g *gate) quiesce(ctx context.Context) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return errQuiesced
	}
	g.closed = true
	g.open = make(chan struct{})
	if g.active == 0 {
		g.mu.Unlock()
		return nil
	}
	idle := make(chan struct{})
	g.idle = idle
	g.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		g.idle = nil
		g.mu.Unlock()
		g.resume()
		return ctx.Err()
	}
}

func (g *gate) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		g.closed = false
		close(g.open)
	}
}

// Quiesce waits until no Access (and so no fault or write-back) is in
// flight and holds every new Access until Resume. When ctx ends first, the
// pager is resumed and ctx's error returned. Pause the guest before
// quiescing: an Access held at the gate blocks its caller.
func (p *Pager) Quiesce(ctx context.Context) error { return p.gate.quiesce(ctx) }

// Resume lets Access calls through again.
func (p *Pager) Resume() { p.gate.resume() }
