package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"

	"github.com/digitalocean/go-qemu/qmp"
)

// fakeMon is a scripted QMP monitor: handlers by command name return the
// "return" member's JSON or an error; every command is recorded.
type fakeMon struct {
	mu       sync.Mutex
	handlers map[string]func(args json.RawMessage) (string, error)
	calls    []fakeCall
	events   chan qmp.Event
	gone     chan struct{}
	once     sync.Once
}

type fakeCall struct {
	Name    string
	Args    json.RawMessage
	HasFile bool
}

func newFakeMon() *fakeMon {
	return &fakeMon{
		handlers: map[string]func(json.RawMessage) (string, error){},
		events:   make(chan qmp.Event),
		gone:     make(chan struct{}),
	}
}

func (f *fakeMon) on(name string, h func(args json.RawMessage) (string, error)) {
	f.mu.Lock()
	f.handlers[name] = h
	f.mu.Unlock()
}

func (f *fakeMon) reply(name, ret string) {
	f.on(name, func(json.RawMessage) (string, error) { return ret, nil })
}

func (f *fakeMon) Run(cmd []byte) ([]byte, error) { return f.RunWithFile(cmd, nil) }

func (f *fakeMon) RunWithFile(cmd []byte, file *os.File) ([]byte, error) {
	var c struct {
		Execute   string          `json:"execute"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal(cmd, &c); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{c.Execute, c.Arguments, file != nil})
	h := f.handlers[c.Execute]
	f.mu.Unlock()
	select {
	case <-f.gone:
		return nil, errors.New("use of closed connection")
	default:
	}
	if h == nil {
		return nil, errors.New("The command " + c.Execute + " has not been found")
	}
	ret, err := h(c.Arguments)
	if err != nil {
		return nil, err
	}
	if ret == "" {
		ret = "{}"
	}
	return []byte(`{"return":` + ret + `}`), nil
}

func (f *fakeMon) Events(context.Context) (<-chan qmp.Event, error) { return f.events, nil }

func (f *fakeMon) Disconnect() error {
	f.once.Do(func() {
		close(f.gone)
		close(f.events)
	})
	return nil
}

func (f *fakeMon) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n []string
	for _, c := range f.calls {
		n = append(n, c.Name)
	}
	return n
}

func (f *fakeMon) call(name string) (fakeCall, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if c.Name == name {
			return c, true
		}
	}
	return fakeCall{}, false
}
