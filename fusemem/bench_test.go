package fusemem

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkSeqRead faults a whole node in, in order, through a child's
// mmap (in-memory Backend, readahead on): bytes/s is the served bandwidth.
func BenchmarkSeqRead(b *testing.B) {
	const size = 256 << 20
	be := newMemBackend(size)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		m := mountT(b, Options{}, NodeSpec{Name: "n", Size: size, Backend: be})
		g := startGuest(b, m.Path("n"), size)
		ns, _ := strconv.ParseInt(g.do("seq")[0], 10, 64)
		total += time.Duration(ns)
		g.stop()
	}
	b.ReportMetric(float64(size)*float64(b.N)/total.Seconds()/1e6, "MB/s")
}

// BenchmarkRandomFault measures first-touch latency of random 4 KiB pages
// (MADV_RANDOM: one READ per fault) and reports p50 and p99.
func BenchmarkRandomFault(b *testing.B) {
	const size = 256 << 20
	be := newMemBackend(size)
	var p50, p99 float64
	for i := 0; i < b.N; i++ {
		m := mountT(b, Options{}, NodeSpec{Name: "n", Size: size, Backend: be})
		g := startGuest(b, m.Path("n"), size)
		r := g.do("rand 5000")
		a, _ := strconv.ParseFloat(r[0], 64)
		c, _ := strconv.ParseFloat(r[1], 64)
		p50, p99 = p50+a, p99+c
		g.stop()
	}
	b.ReportMetric(p50/float64(b.N)/1e3, "p50-us")
	b.ReportMetric(p99/float64(b.N)/1e3, "p99-us")
}
