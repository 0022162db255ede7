package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"dcres/internal/leakcheck"
)

// pair returns two connected Conns over an in-memory pipe, closed at cleanup.
func pair(t *testing.T, a, b Options) (*Conn, *Conn) {
	t.Helper()
	p1, p2 := net.Pipe()
	ca, cb := NewConn(p1, a), NewConn(p2, b)
	t.Cleanup(func() { ca.Close(); cb.Close() })
	return ca, cb
}

type echoParams struct {
	Text string `json:"text"`
}

func echo(ctx context.Context, req *Request) (any, []byte, error) {
	switch req.Method {
	case "echo":
		var p echoParams
		if err := req.Decode(&p); err != nil {
			return nil, nil, err
		}
		return p, req.Payload, nil
	}
	return nil, nil, UnknownMethod(req.Method)
}

func TestCallResultAndPayloadBothWays(t *testing.T) {
	leakcheck.Check(t)
	a, b := pair(t, Options{Handler: echo}, Options{Handler: echo})
	for _, c := range []*Conn{a, b} {
		var got echoParams
		pl, err := c.Call(context.Background(), "echo", echoParams{Text: "hi"}, []byte{1, 2, 3}, &got)
		if err != nil {
			t.Fatal(err)
		}
		if got.Text != "hi" || !bytes.Equal(pl, []byte{1, 2, 3}) {
			t.Fatalf("got %+v %v", got, pl)
		}
	}
}

func TestErrorsCrossAsError(t *testing.T) {
	leakcheck.Check(t)
	h := func(ctx context.Context, req *Request) (any, []byte, error) {
		switch req.Method {
		case "plain":
			return nil, nil, errors.New("disk full")
		case "coded":
			return nil, nil, fmt.Errorf("wrapped: %w", Errorf("busy", "try later"))
		case "panic":
			panic("boom")
		case "badresult":
			return func() {}, nil, nil
		}
		return echo(ctx, req)
	}
	a, _ := pair(t, Options{}, Options{Handler: h})
	cases := []struct {
		method string
		params any
		code   string
		msg    string
	}{
		{"plain", nil, CodeError, "disk full"},
		{"coded", nil, "busy", "try later"},
		{"panic", nil, CodeInternal, "boom"},
		{"badresult", nil, CodeInternal, "encode result"},
		{"nosuch", nil, CodeUnknownMethod, `"nosuch"`},
		{"echo", map[string]any{"text": "x", "extra": 1}, CodeBadRequest, `echo: bad parameters`},
		{"echo", map[string]any{"text": 5}, CodeBadRequest, `echo: bad parameters`},
	}
	for _, tc := range cases {
		_, err := a.Call(context.Background(), tc.method, tc.params, nil, nil)
		var e *Error
		if !errors.As(err, &e) || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%s: got %v, want code %s with %q", tc.method, err, tc.code, tc.msg)
		}
	}
	// The connection survives all of them.
	if _, err := a.Call(context.Background(), "echo", echoParams{"ok"}, nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestNilHandlerAnswersUnknownMethod(t *testing.T) {
	leakcheck.Check(t)
	a, _ := pair(t, Options{}, Options{})
	_, err := a.Call(context.Background(), "x", nil, nil, nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeUnknownMethod {
		t.Fatalf("got %v", err)
	}
}

func TestConcurrentCallsAreBounded(t *testing.T) {
	leakcheck.Check(t)
	var cur, peak atomic.Int32
	h := func(ctx context.Context, req *Request) (any, []byte, error) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		cur.Add(-1)
		return echo(ctx, req)
	}
	a, _ := pair(t, Options{}, Options{Handler: h})
	const calls = 300
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Go(func() {
			want := fmt.Sprint(i)
			var got echoParams
			pl, err := a.Call(context.Background(), "echo", echoParams{want}, []byte(want), &got)
			if err == nil && (got.Text != want || string(pl) != want) {
				err = fmt.Errorf("call %d got %q/%q", i, got.Text, pl)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if p := peak.Load(); p < 2 || p > MaxInFlight {
		t.Fatalf("peak concurrency %d, want 2..%d", p, MaxInFlight)
	}
}

func TestBigPayload(t *testing.T) {
	leakcheck.Check(t)
	a, _ := pair(t, Options{}, Options{Handler: echo})
	big := make([]byte, 32<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	pl, err := a.Call(context.Background(), "echo", echoParams{"big"}, big, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pl, big) {
		t.Fatal("32 MiB payload came back different")
	}
}

func TestPayloadLimits(t *testing.T) {
	leakcheck.Check(t)
	bigResult := func(ctx context.Context, req *Request) (any, []byte, error) {
		return nil, make([]byte, 2048), nil
	}
	a, _ := pair(t, Options{MaxPayload: 1024}, Options{MaxPayload: 1024, Handler: bigResult})
	_, err := a.Call(context.Background(), "x", nil, make([]byte, 1025), nil)
	if err == nil || !strings.Contains(err.Error(), "exceeds the limit 1024") {
		t.Fatalf("oversized request: %v", err)
	}
	// The handler's oversized response becomes an error, not a hang.
	_, err = a.Call(context.Background(), "x", nil, nil, nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeInternal || !strings.Contains(e.Message, "exceeds the limit") {
		t.Fatalf("oversized response: %v", err)
	}
}

func TestCancelReturnsPromptlyAndDropsLateResponse(t *testing.T) {
	leakcheck.Check(t)
	release := make(chan struct{})
	h := func(ctx context.Context, req *Request) (any, []byte, error) {
		if req.Method == "slow" {
			<-release
			return echoParams{"late"}, nil, nil
		}
		return echo(ctx, req)
	}
	a, _ := pair(t, Options{}, Options{Handler: h})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := a.Call(ctx, "slow", nil, nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "slow") {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cancel took %v", d)
	}
	close(release) // the late response arrives and must be dropped
	var got echoParams
	if _, err := a.Call(context.Background(), "echo", echoParams{"next"}, nil, &got); err != nil || got.Text != "next" {
		t.Fatalf("after cancel: %v %+v", err, got)
	}
}

func TestCancelDuringLongWrite(t *testing.T) {
	leakcheck.Check(t)
	// Nobody reads the other end of the pipe, so the write blocks.
	p1, p2 := net.Pipe()
	defer p2.Close()
	a := NewConn(p1, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := a.Call(ctx, "x", nil, make([]byte, 1<<20), nil)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("got %v after %v", err, time.Since(start))
	}
	a.Close() // must unblock the write and wait for it
}

func TestPeerCloseFailsPendingCalls(t *testing.T) {
	leakcheck.Check(t)
	entered := make(chan struct{})
	h := func(ctx context.Context, req *Request) (any, []byte, error) {
		close(entered)
		<-ctx.Done() // ends when the serving side closes
		return nil, nil, ctx.Err()
	}
	a, b := pair(t, Options{}, Options{Handler: h})
	errc := make(chan error, 1)
	go func() { _, err := a.Call(context.Background(), "hang", nil, nil, nil); errc <- err }()
	<-entered
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrConnLost) || !strings.Contains(err.Error(), "hang") {
			t.Fatalf("got %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("pending call not failed after peer close")
	}
	<-a.Done()
	if !errors.Is(a.Err(), ErrConnLost) {
		t.Fatalf("Err() = %v", a.Err())
	}
	if !errors.Is(b.Err(), ErrClosed) {
		t.Fatalf("closing side Err() = %v", b.Err())
	}
	if _, err := a.Call(context.Background(), "again", nil, nil, nil); !errors.Is(err, ErrConnLost) {
		t.Fatalf("call after loss: %v", err)
	}
	if err := a.Notify("ev", nil, nil); !errors.Is(err, ErrConnLost) {
		t.Fatalf("notify after loss: %v", err)
	}
}

func TestLocalCloseFailsPendingCalls(t *testing.T) {
	leakcheck.Check(t)
	p1, p2 := net.Pipe()
	defer p2.Close()
	go func() { // a peer that reads requests and never answers
		buf := make([]byte, 4096)
		for {
			if _, err := p2.Read(buf); err != nil {
				return
			}
		}
	}()
	a := NewConn(p1, Options{})
	if a.Err() != nil {
		t.Fatalf("Err() of an open Conn = %v", a.Err())
	}
	errc := make(chan error, 1)
	go func() { _, err := a.Call(context.Background(), "wait", nil, nil, nil); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	a.Close()
	if err := <-errc; !errors.Is(err, ErrConnLost) || !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v", err)
	}
}

func TestEventsKeepOrder(t *testing.T) {
	leakcheck.Check(t)
	const n = 2000
	got := make(chan int, n)
	b := Options{OnEvent: func(method string, body json.RawMessage, payload []byte) {
		var i int
		if err := json.Unmarshal(body, &i); err != nil || method != "tick" || len(payload) != i%5 {
			t.Errorf("bad event %s %s %d", method, body, len(payload))
		}
		got <- i
	}}
	a, _ := pair(t, Options{}, b)
	for i := range n {
		if err := a.Notify("tick", i, make([]byte, i%5)); err != nil {
			t.Fatal(err)
		}
	}
	for want := range n {
		select {
		case i := <-got:
			if i != want {
				t.Fatalf("event %d arrived in place %d", i, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("event %d never arrived", want)
		}
	}
}

func TestEventsBeforePeerCloseAreDelivered(t *testing.T) {
	leakcheck.Check(t)
	var mu sync.Mutex
	var got []string
	a, b := pair(t, Options{}, Options{OnEvent: func(m string, _ json.RawMessage, _ []byte) {
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}})
	a.Notify("one", nil, nil)
	a.Notify("two", nil, nil)
	a.Close()
	<-b.Done()
	b.Close() // waits for the dispatcher
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != "one,two" {
		t.Fatalf("got %v", got)
	}
}

func TestHandlerCanCallBack(t *testing.T) {
	leakcheck.Check(t)
	h := func(ctx context.Context, req *Request) (any, []byte, error) {
		var r echoParams
		_, err := req.Conn.Call(ctx, "echo", echoParams{"inner"}, nil, &r)
		return r, nil, err
	}
	a, _ := pair(t, Options{Handler: echo}, Options{Handler: h})
	var got echoParams
	if _, err := a.Call(context.Background(), "outer", nil, nil, &got); err != nil || got.Text != "inner" {
		t.Fatalf("%v %+v", err, got)
	}
}

func TestCloseWaitsForHandlers(t *testing.T) {
	leakcheck.Check(t)
	var finished atomic.Bool
	entered := make(chan struct{})
	h := func(ctx context.Context, req *Request) (any, []byte, error) {
		close(entered)
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond)
		finished.Store(true)
		return nil, nil, nil
	}
	a, b := pair(t, Options{}, Options{Handler: h})
	go a.Call(context.Background(), "x", nil, nil, nil)
	<-entered
	b.Close()
	if !finished.Load() {
		t.Fatal("Close returned before the handler ended")
	}
	a.Close()
}
