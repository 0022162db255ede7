package leakcheck

import (
	"strings"
	"testing"
	"time"
)

// fakeTB records failures so the test can see Check fail on a real leak.
type fakeTB struct {
	testing.TB
	cleanups []func()
	errors   []string
}

func (f *fakeTB) Helper()                   {}
func (f *fakeTB) Cleanup(fn func())         { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Errorf(s string, a ...any) { f.errors = append(f.errors, s) }

func (f *fakeTB) finish() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestDetectsLeak(t *testing.T) {
	stop := make(chan struct{})
	f := &fakeTB{TB: t}
	Check(f)
	go func() { <-stop }()
	start := time.Now()
	f.finish()
	close(stop)
	if len(f.errors) != 1 || !strings.Contains(f.errors[0], "still running") {
		t.Fatalf("leak not reported: %q", f.errors)
	}
	if time.Since(start) < Grace {
		t.Fatalf("reported before the grace period ended")
	}
}

func TestGoroutineEndingInGraceIsNoLeak(t *testing.T) {
	f := &fakeTB{TB: t}
	Check(f)
	go func() { time.Sleep(50 * time.Millisecond) }()
	f.finish()
	if len(f.errors) != 0 {
		t.Fatalf("false leak: %q", f.errors)
	}
}
