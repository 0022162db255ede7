package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
)

// monitor is the part of go-qemu's *qmp.SocketMonitor this package uses; a
// fake implements it in unit tests.
type monitor interface {
	Run(cmd []byte) ([]byte, error)
	RunWithFile(cmd []byte, f *os.File) ([]byte, error)
	Events(ctx context.Context) (<-chan qmp.Event, error)
	Disconnect() error
}

// defaultCallTimeout bounds a QMP call whose context has no earlier deadline.
const defaultCallTimeout = 10 * time.Second

// client runs QMP commands one at a time, each bounded by a timeout, and
// drains the event stream continuously (go-qemu stalls command replies when
// events are not read). A command that times out breaks the connection on
// purpose: its reply could otherwise be taken as the next command's.
type client struct {
	mon     monitor
	timeout time.Duration
	logf    func(string, ...any)

	mu     sync.Mutex
	broken error

	migEvent chan struct{} // a MIGRATION event arrived (capacity 1)
	wg       sync.WaitGroup
	once     sync.Once
}

func newClient(mon monitor, logf func(string, ...any)) (*client, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	c := &client{mon: mon, timeout: defaultCallTimeout, logf: logf, migEvent: make(chan struct{}, 1)}
	evs, err := mon.Events(context.Background())
	if err != nil {
		return nil, fmt.Errorf("qmp: subscribe to events: %v", err)
	}
	c.wg.Add(1)
	go c.drain(evs)
	return c, nil
}

// drain reads events until the connection closes.
func (c *client) drain(evs <-chan qmp.Event) {
	defer c.wg.Done()
	for ev := range evs {
		switch ev.Event {
		case "MIGRATION":
			select {
			case c.migEvent <- struct{}{}:
			default:
			}
		case "MIGRATION_PASS":
		default:
			c.logf("qmp event %s %v", ev.Event, ev.Data)
		}
	}
}

type command struct {
	Execute string `json:"execute"`
	Args    any    `json:"arguments,omitempty"`
}

type reply struct {
	Return json.RawMessage `json:"return"`
}

type callResult struct {
	out []byte
	err error
}

// cancelGrace is how long a call whose caller gave up still waits for its
// reply before the connection is declared broken.
const cancelGrace = 2 * time.Second

// run executes one command with optional arguments and file descriptor,
// decoding the "return" member into out when out is not nil.
//
// A reply that is never read would be taken as the next command's, so a
// call is never simply abandoned: when ctx ends first, the reply is still
// awaited for a short grace (and returned if it comes: the command took
// effect); a command without a reply within c.timeout (or the grace)
// breaks the connection on purpose.
func (c *client) run(ctx context.Context, name string, args any, file *os.File, out any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return fmt.Errorf("qmp %s: connection unusable: %w", name, c.broken)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("qmp %s: not sent: %w", name, err)
	}
	b, err := json.Marshal(command{Execute: name, Args: args})
	if err != nil {
		return fmt.Errorf("qmp %s: encode arguments: %v", name, err)
	}
	done := make(chan callResult, 1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		var r callResult
		if file != nil {
			r.out, r.err = c.mon.RunWithFile(b, file)
		} else {
			r.out, r.err = c.mon.Run(b)
		}
		done <- r
	}()
	hard := time.NewTimer(c.timeout)
	defer hard.Stop()
	var r callResult
	select {
	case r = <-done:
	case <-hard.C:
		return c.breakOn(name, fmt.Sprintf("no reply within %v", c.timeout))
	case <-ctx.Done():
		grace := time.NewTimer(cancelGrace)
		defer grace.Stop()
		select {
		case r = <-done:
		case <-hard.C:
			return c.breakOn(name, fmt.Sprintf("no reply within %v", c.timeout))
		case <-grace.C:
			return c.breakOn(name, fmt.Sprintf("caller gave up (%v) and no reply followed", ctx.Err()))
		}
	}
	if r.err != nil {
		return fmt.Errorf("qmp %s: %w", name, r.err)
	}
	if out == nil {
		return nil
	}
	var rep reply
	if err := json.Unmarshal(r.out, &rep); err != nil {
		return fmt.Errorf("qmp %s: decode reply %.200q: %v", name, r.out, err)
	}
	if err := json.Unmarshal(rep.Return, out); err != nil {
		return fmt.Errorf("qmp %s: decode return %.200q: %v", name, rep.Return, err)
	}
	return nil
}

// breakOn closes the connection after a command got no reply (which also
// unblocks the pending Run); c.mu is held.
func (c *client) breakOn(name, why string) error {
	c.broken = fmt.Errorf("%s: %s", name, why)
	c.mon.Disconnect()
	return fmt.Errorf("qmp %s: %s; the monitor connection was closed, restart the VM", name, why)
}

// close ends the connection and waits for the client's goroutines.
func (c *client) close() {
	c.once.Do(func() {
		c.mu.Lock()
		if c.broken == nil {
			c.broken = errors.New("closed")
		}
		c.mu.Unlock()
		c.mon.Disconnect()
	})
	c.wg.Wait()
}
