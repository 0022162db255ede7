package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"dcres/guest/image/pattern"
)

func TestWorkloadDetectsDamage(t *testing.T) {
	for _, pat := range []string{"random", "seq", "hot"} {
		var out bytes.Buffer
		c := defaultConfig()
		c.Pattern = pat
		w := newWorkload(make([]byte, 64*pattern.PageSize), c, &out, time.Now())
		w.fillAll()
		w.step(500)
		if w.errors != 0 {
			t.Fatalf("%s: %d errors on clean memory: %s", pat, w.errors, out.String())
		}
		if e := w.verifyAll(1); e != 0 {
			t.Fatalf("%s: verify found %d errors on clean memory", pat, e)
		}
		// Stale copy: page 3 put back to an older content.
		old := make([]byte, pattern.PageSize)
		copy(old, w.page(3))
		w.write(3)
		copy(w.page(3), old)
		// Damaged page: one bit flipped.
		w.page(9)[1000] ^= 1
		if e := w.verifyAll(2); e != 2 {
			t.Fatalf("%s: verify found %d errors, want 2; output:\n%s", pat, e, out.String())
		}
		if !strings.Contains(out.String(), "DCRES error page=3 ") || !strings.Contains(out.String(), "DCRES verify id=2 pages=64 errors=2") {
			t.Fatalf("%s: output lacks the error or verify line:\n%s", pat, out.String())
		}
	}
}

func TestErrorLinesAreRateLimited(t *testing.T) {
	var out bytes.Buffer
	w := newWorkload(make([]byte, 100*pattern.PageSize), defaultConfig(), &out, time.Now())
	w.fillAll()
	for i := 0; i < w.pages(); i++ {
		w.page(i)[100] ^= 1
	}
	if e := w.verifyAll(1); e != 100 {
		t.Fatalf("errors = %d, want 100", e)
	}
	if n := strings.Count(out.String(), "DCRES error"); n != maxErrorLinesPerBeat {
		t.Fatalf("%d error lines, want %d", n, maxErrorLinesPerBeat)
	}
	w.heartbeat(1, time.Now())
	if !strings.Contains(out.String(), "errors=100 ") {
		t.Fatalf("heartbeat lacks the error count:\n%s", out.String())
	}
}
