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

// run executes one command with optional arguments and file descriptor,
// decoding the "return" member into out when out is not nil.
func (c *client) run(ctx context.Context, name string, args any, file *os.File, out any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return fmt.Errorf("qmp %s: connection unusable: %w", name, c.broken)
	}
	b, err := json.Marshal(command{Execute: name, Args: args})
	if err != nil {
		return fmt.Errorf("qmp %s: encode arguments: %v", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
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
	var r callResult
	select {
	case r = <-done:
	case <-ctx.Done():
		c.broken = fmt.Errorf("%s got no reply: %w", name, ctx.Err())
		c.mon.Disconnect() // unblocks the pending Run
		return fmt.Errorf("qmp %s: no reply (%v); the monitor connection was closed, restart the VM", name, ctx.Err())
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
