package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"dcres/guest/image/pattern"
)

// maxErrorLinesPerBeat bounds the error lines printed per heartbeat period,
// so a badly damaged guest does not flood the serial console.
const maxErrorLinesPerBeat = 10

// workload owns the guest's test memory and its version table. Only one
// goroutine uses it (the main loop), so it needs no locks.
type workload struct {
	mem      []byte
	versions []uint32 // version of each page as last written
	seed     uint64
	pattern  string
	rng      *rand.Rand
	next     uint64 // next page for the "seq" pattern
	out      io.Writer
	start    time.Time

	written, read, errors int64
	errLines              int // error lines printed in the current beat
}

func newWorkload(mem []byte, c config, out io.Writer, start time.Time) *workload {
	n := len(mem) / pattern.PageSize
	return &workload{
		mem:      mem[:n*pattern.PageSize],
		versions: make([]uint32, n),
		seed:     c.Seed,
		pattern:  c.Pattern,
		rng:      rand.New(rand.NewPCG(c.Seed, 0x64637265)),
		out:      out,
		start:    start,
	}
}

func (w *workload) pages() int { return len(w.versions) }

func (w *workload) page(i int) []byte {
	return w.mem[i*pattern.PageSize : (i+1)*pattern.PageSize]
}

// fillAll writes version 1 of every page: it makes the memory resident and
// gives every page a known content before the first check.
func (w *workload) fillAll() {
	for i := range w.versions {
		w.versions[i] = 1
		pattern.Fill(w.page(i), uint64(i), 1, w.seed)
	}
	w.written += int64(len(w.versions))
}

// pick chooses the next page by the configured pattern.
func (w *workload) pick() int {
	n := uint64(len(w.versions))
	switch w.pattern {
	case "seq":
		i := w.next % n
		w.next++
		return int(i)
	case "hot": // 80% of accesses go to the first tenth of memory
		hot := n/10 + 1
		if w.rng.IntN(10) < 8 {
			return int(w.rng.Uint64N(hot))
		}
	}
	return int(w.rng.Uint64N(n))
}

// write rewrites one page with its next version.
func (w *workload) write(i int) {
	w.versions[i]++
	pattern.Fill(w.page(i), uint64(i), w.versions[i], w.seed)
	w.written++
}

// check reads one page and reports a mismatch; it returns false on error.
func (w *workload) check(i int) bool {
	w.read++
	got, ok := pattern.Check(w.page(i), uint64(i), w.versions[i], w.seed)
	if ok {
		return true
	}
	w.errors++
	if w.errLines < maxErrorLinesPerBeat {
		w.errLines++
		fmt.Fprintf(w.out, "DCRES error page=%d want=%d got=%d\n", i, w.versions[i], got)
	}
	return false
}

// step does one slice of the workload: n page writes, each preceded by a
// check of the page it replaces, plus n checks of other pages.
func (w *workload) step(n int) {
	for k := 0; k < n; k++ {
		i := w.pick()
		w.check(i)
		w.write(i)
		w.check(w.pick())
	}
}

// verifyAll checks every page now and reports the result.
func (w *workload) verifyAll(id int64) (errs int64) {
	for i := range w.versions {
		if !w.check(i) {
			errs++
		}
	}
	fmt.Fprintf(w.out, "DCRES verify id=%d pages=%d errors=%d\n", id, len(w.versions), errs)
	return errs
}

// heartbeat prints the once-a-second status line and starts a new
// error-line budget.
func (w *workload) heartbeat(seq int64, now time.Time) {
	w.errLines = 0
	fmt.Fprintf(w.out, "DCRES hb seq=%d pages=%d written=%d read=%d errors=%d uptime_ms=%d\n",
		seq, len(w.versions), w.written, w.read, w.errors, now.Sub(w.start).Milliseconds())
}
