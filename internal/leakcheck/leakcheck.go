// Package leakcheck fails a test whose goroutines outlive it.
//
// Check takes a snapshot of the running goroutines when called and, in a
// cleanup that runs after every cleanup registered later, waits a short grace
// period for goroutines started since then to end. Tests that use it must not
// run in parallel with other tests of the same binary, since their goroutines
// would be counted too.
package leakcheck

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// Grace is how long Check waits for new goroutines to end before failing.
const Grace = 2 * time.Second

// ignored are stack fragments of goroutines the runtime or the testing
// package start on their own; they are not leaks of the code under test.
var ignored = []string{
	"testing.tRunner",
	"testing.(*M).",
	"testing.(*T).Run",
	"runtime.goexit0",
	"os/signal.signal_recv",
	"os/signal.loop",
	"runtime.ensureSigM",
	"created by runtime.gc",
	"runtime/pprof",
}

// Check registers a cleanup on t that fails t if goroutines started after
// this call are still running Grace after the test (and its later cleanups)
// ended. Call it first in the test, before anything that starts goroutines.
func Check(t testing.TB) {
	t.Helper()
	before := snapshot()
	t.Cleanup(func() {
		deadline := time.Now().Add(Grace)
		var leaked []string
		for {
			leaked = leaked[:0]
			for id, stack := range snapshot() {
				if _, ok := before[id]; !ok && interesting(stack) {
					leaked = append(leaked, stack)
				}
			}
			if len(leaked) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if len(leaked) > 0 {
			t.Errorf("leakcheck: %d goroutine(s) still running %v after the test ended:\n\n%s",
				len(leaked), Grace, strings.Join(leaked, "\n\n"))
		}
	})
}

// interesting reports whether a goroutine's stack belongs to the code under
// test rather than to the runtime or the test framework.
func interesting(stack string) bool {
	for _, frag := range ignored {
		if strings.Contains(stack, frag) {
			return false
		}
	}
	return true
}

// snapshot returns every goroutine's stack keyed by its "goroutine N" line.
func snapshot() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := make(map[string]string)
	for _, g := range strings.Split(string(buf), "\n\n") {
		head, _, _ := strings.Cut(g, "\n")
		// "goroutine 7 [chan receive]:" -> "goroutine 7"
		if i := strings.Index(head, " ["); i > 0 {
			head = head[:i]
		}
		out[head] = g
	}
	return out
}
