package tui

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestRunQuitsOnQAndUnsubscribes runs the real program over a pipe.
func TestRunQuitsOnQAndUnsubscribes(t *testing.T) {
	f := newFake()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := Run(ctx, f, Options{Title: "t", Input: strings.NewReader("q"), Output: io.Discard, Now: fixedNow})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run did not quit on q")
	}
	if f.unsubs != 1 {
		t.Errorf("unsubscribed %d times, want 1", f.unsubs)
	}
}

func TestRunEndsWithContext(t *testing.T) {
	f := newFake()
	r, w := io.Pipe()
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, f, Options{Input: r, Output: io.Discard}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after ctx end: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run outlived its context")
	}
}
