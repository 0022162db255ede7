package pager

import (
	"context"
	"testing"
	"time"
)

func BenchmarkAccessLocal(b *testing.B) {
	f := newFake(b, 2, 1024)
	p := newTestPager(b, f, 1024, 64, 32, 64)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		_ = p.Access(ctx, uint64(i%512), true, func(pg []byte) { pg[0]++ })
	}
}

func BenchmarkAccessHit(b *testing.B) {
	f := newFake(b, 2, 1024)
	p := newTestPager(b, f, 1024, 64, 32, 64)
	ctx := context.Background()
	for g := uint64(512); g < 576; g++ {
		_ = p.Access(ctx, g, false, func([]byte) {})
	}
	faults := p.Stats().Faults
	for i := 0; b.Loop(); i++ {
		_ = p.Access(ctx, 512+uint64(i%64), true, func(pg []byte) { pg[0]++ })
	}
	if p.Stats().Faults != faults {
		b.Fatal("hit benchmark faulted")
	}
}

// BenchmarkAccessFault touches pages with a stride wider than readahead, so
// every access is a fault over a link of 100 us latency.
func BenchmarkAccessFault(b *testing.B) {
	const npages = 1 << 16
	f := newFake(b, 2, npages)
	f.Latency = 100 * time.Microsecond
	p := newTestPager(b, f, npages, 64, 32, 64)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		g := npages/2 + uint64(i*32)%(npages/2)
		_ = p.Access(ctx, g, i%2 == 0, func(pg []byte) { pg[0]++ })
	}
}
