package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// MaxInFlight bounds the requests a Conn serves at once; further requests
// wait in the stream, which pushes back on the caller.
const MaxInFlight = 64

// eventQueue is how many received events may wait for OnEvent before the
// reader stops reading (and so stops delivering responses too).
const eventQueue = 256

// Options configure a Conn. Every field is optional.
type Options struct {
	// Handler serves the other side's requests; nil answers every request
	// with CodeUnknownMethod.
	Handler Handler
	// OnEvent receives the other side's events, one at a time, in order. It
	// runs on its own goroutine; while it blocks, further events queue.
	OnEvent func(method string, body json.RawMessage, payload []byte)
	// MaxPayload bounds payloads sent and received; 0 means DefaultMaxPayload.
	MaxPayload int
	// Logf reports problems that have no caller to return to.
	Logf func(string, ...any)
}

// Conn is one end of an rpc connection.
type Conn struct {
	rwc io.ReadWriteCloser
	opt Options

	ctx    context.Context // ends with the connection; handlers run under it
	cancel context.CancelFunc
	done   chan struct{}
	wsem   chan struct{} // one writer at a time; a channel so waiting obeys ctx
	slots  chan struct{} // requests in flight
	events chan *frame
	nextID atomic.Uint64

	mu       sync.Mutex
	pending  map[uint64]chan *frame
	err      error // why the connection ended; set once, before done closes
	closed   bool  // no more tracked goroutines may start
	closeErr error

	wg sync.WaitGroup
}

// NewConn starts serving rwc: a reader goroutine and an event dispatcher run
// until the connection ends; Close waits for them.
func NewConn(rwc io.ReadWriteCloser, opt Options) *Conn {
	if opt.MaxPayload <= 0 {
		opt.MaxPayload = DefaultMaxPayload
	}
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	c := &Conn{
		rwc:     rwc,
		opt:     opt,
		done:    make(chan struct{}),
		wsem:    make(chan struct{}, 1),
		slots:   make(chan struct{}, MaxInFlight),
		events:  make(chan *frame, eventQueue),
		pending: make(map[uint64]chan *frame),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(2)
	go c.readLoop()
	go c.dispatchEvents()
	return c
}

// Done is closed when the connection has ended, by Close or by loss.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err says why the connection ended: ErrClosed after Close, an error wrapping
// ErrConnLost otherwise; nil while it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the stream, fails pending calls and waits for the Conn's
// goroutines, including running handlers (which see their ctx end).
func (c *Conn) Close() error {
	c.end(ErrClosed)
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

// end records why the connection ended (first reason wins), closes the
// stream so blocked reads and writes return, and wakes every waiter.
func (c *Conn) end(reason error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = reason
	c.mu.Unlock()
	c.cancel()
	close(c.done)
	err := c.rwc.Close()
	c.mu.Lock()
	c.closeErr = err
	c.mu.Unlock()
}

// lost is the error of an operation cut off by the end of the connection;
// what names the operation ("call ping").
func (c *Conn) lost(what string) error {
	err := c.Err()
	if errors.Is(err, ErrClosed) {
		return fmt.Errorf("rpc: %s: %w (%w)", what, ErrConnLost, ErrClosed)
	}
	return fmt.Errorf("rpc: %s: %w", what, err)
}

// describe names a frame's operation for errors.
func describe(f *frame) string {
	switch f.Kind {
	case kindRequest:
		return "call " + f.Method
	case kindEvent:
		return "event " + f.Method
	}
	return "response"
}

// spawn runs fn on a goroutine Close waits for, unless Close has begun.
func (c *Conn) spawn(fn func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
	return true
}

// Call sends a request and waits for its response. It returns the response
// payload; the response body is decoded into result unless result is nil.
// A handler's error arrives as *Error. When ctx ends first, Call returns
// at once and the late response is dropped.
func (c *Conn) Call(ctx context.Context, method string, params any, payload []byte, result any) ([]byte, error) {
	body, err := marshalBody(method, params)
	if err != nil {
		return nil, err
	}
	id := c.nextID.Add(1)
	ch := make(chan *frame, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.lost("call " + method)
	}
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()

	req := &frame{header: header{ID: id, Kind: kindRequest, Method: method, Body: body}, Payload: payload}
	if err := c.sendAsync(ctx, req); err != nil {
		return nil, err
	}
	select {
	case resp := <-ch:
		if resp.Error != nil {
			return nil, resp.Error
		}
		if result != nil && len(resp.Body) > 0 {
			// Results are decoded leniently so that an older caller can
			// talk to a newer agent that returns more fields.
			if err := json.Unmarshal(resp.Body, result); err != nil {
				return nil, fmt.Errorf("rpc: call %s: decode result: %w", method, err)
			}
		}
		return resp.Payload, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("rpc: call %s: %w", method, ctx.Err())
	case <-c.done:
		return nil, c.lost("call " + method)
	}
}

// Notify sends an event. It returns once the event is written, so events
// sent one after another by one goroutine arrive in that order.
func (c *Conn) Notify(method string, body any, payload []byte) error {
	b, err := marshalBody(method, body)
	if err != nil {
		return err
	}
	ev := &frame{header: header{Kind: kindEvent, Method: method, Body: b}, Payload: payload}
	return c.send(context.Background(), ev)
}

// send writes f on the calling goroutine, waiting for the write slot.
func (c *Conn) send(ctx context.Context, f *frame) error {
	if err := c.acquireWriter(ctx, describe(f)); err != nil {
		return err
	}
	defer func() { <-c.wsem }()
	return c.write(f)
}

// sendAsync writes f on a tracked goroutine so that a caller whose ctx ends
// in the middle of a long write returns at once; the write itself completes
// (a frame cannot be abandoned half-way) or fails when the stream closes.
func (c *Conn) sendAsync(ctx context.Context, f *frame) error {
	if err := c.acquireWriter(ctx, describe(f)); err != nil {
		return err
	}
	errc := make(chan error, 1)
	if !c.spawn(func() {
		defer func() { <-c.wsem }()
		errc <- c.write(f)
	}) {
		<-c.wsem
		return c.lost(describe(f))
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return fmt.Errorf("rpc: %s: %w", describe(f), ctx.Err())
	}
}

func (c *Conn) acquireWriter(ctx context.Context, what string) error {
	select {
	case c.wsem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("rpc: %s: %w", what, ctx.Err())
	case <-c.done:
		return c.lost(what)
	}
}

// write writes f; the caller holds the write slot. A failed write ends the
// connection: the stream may hold half a frame.
func (c *Conn) write(f *frame) error {
	select {
	case <-c.done:
		return c.lost(describe(f))
	default:
	}
	head, err := encodeHeader(f, c.opt.MaxPayload)
	if err != nil {
		return err // nothing written yet; the stream is intact
	}
	if _, err = c.rwc.Write(head); err == nil && len(f.Payload) > 0 {
		_, err = c.rwc.Write(f.Payload)
	}
	if err != nil {
		c.end(fmt.Errorf("%w: write: %w", ErrConnLost, err))
		return c.lost(describe(f))
	}
	return nil
}

// readLoop reads frames until the stream fails and routes each one.
func (c *Conn) readLoop() {
	defer c.wg.Done()
	defer close(c.events)
	for {
		f, err := readFrame(c.rwc, c.opt.MaxPayload)
		if err != nil {
			if errors.Is(err, errFrame) {
				c.opt.Logf("rpc: dropping connection: %v", err)
			}
			if err == io.EOF {
				err = errors.New("the other side closed it")
			}
			c.end(fmt.Errorf("%w: %w", ErrConnLost, err))
			return
		}
		switch f.Kind {
		case kindResponse:
			c.mu.Lock()
			ch := c.pending[f.ID]
			c.mu.Unlock()
			if ch == nil {
				continue // the call gave up; its response is dropped
			}
			select {
			case ch <- f: // buffered 1: the first answer to an id never blocks
			default:
				c.opt.Logf("rpc: dropping a second response to request %d", f.ID)
			}
		case kindEvent:
			select {
			case c.events <- f:
			case <-c.done:
				return
			}
		case kindRequest:
			select {
			case c.slots <- struct{}{}:
			case <-c.done:
				return
			}
			if !c.spawn(func() { defer func() { <-c.slots }(); c.serve(f) }) {
				return
			}
		}
	}
}

// dispatchEvents hands events to OnEvent in arrival order, including those
// that arrived just before the connection ended.
func (c *Conn) dispatchEvents() {
	defer c.wg.Done()
	for f := range c.events {
		if c.opt.OnEvent == nil {
			continue
		}
		c.opt.OnEvent(f.Method, f.Body, f.Payload)
	}
}

// serve runs the handler for one request and writes its response.
func (c *Conn) serve(f *frame) {
	resp := &frame{header: header{ID: f.ID, Kind: kindResponse}}
	result, payload, err := c.runHandler(f)
	if err == nil {
		resp.Body, err = marshalBody(f.Method, result)
		if err != nil {
			err = Errorf(CodeInternal, "%s: encode result: %v", f.Method, err)
		}
	}
	if err != nil {
		resp.Error = toWire(err)
	} else {
		resp.Payload = payload
	}
	err = c.send(c.ctx, resp)
	if err != nil && c.ctx.Err() == nil && resp.Error == nil {
		// The connection is still up, so nothing was written (the response
		// broke a bound): tell the caller instead of leaving it waiting.
		resp.Error, resp.Body, resp.Payload = Errorf(CodeInternal, "%s: %v", f.Method, err), nil, nil
		err = c.send(c.ctx, resp)
	}
	if err != nil && c.ctx.Err() == nil {
		c.opt.Logf("rpc: response to %s: %v", f.Method, err)
	}
}

func (c *Conn) runHandler(f *frame) (result any, payload []byte, err error) {
	if c.opt.Handler == nil {
		return nil, nil, UnknownMethod(f.Method)
	}
	defer func() {
		if p := recover(); p != nil {
			c.opt.Logf("rpc: handler for %s panicked: %v", f.Method, p)
			err = Errorf(CodeInternal, "%s: handler panicked: %v", f.Method, p)
		}
	}()
	req := &Request{Method: f.Method, Body: f.Body, Payload: f.Payload, Conn: c}
	return c.opt.Handler(c.ctx, req)
}
