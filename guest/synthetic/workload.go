package synthetic

import (
	"context"
	"time"

	"dcres/api"
)

// step is the longest the workload sleeps at once, so Stop and rate changes
// take effect quickly.
const step = 10 * time.Millisecond

const burstTime = 50 * time.Millisecond

// bucket is a token bucket in bytes. A burst is at most burstTime's worth
// (and at least one page): enough to catch up after a slow access, small
// enough that the rate holds over any stretch longer than that.
type bucket struct {
	rate   float64 // bytes per second
	tokens float64
	burst  float64
}

func newBucket(rate int64) bucket {
	return bucket{rate: float64(rate), burst: max(float64(rate)*burstTime.Seconds(), api.PageSize)}
}

func (b *bucket) refill(dt time.Duration) {
	b.tokens = min(b.tokens+b.rate*dt.Seconds(), b.burst)
}

// wait is how long until one page's tokens are there (0 if now).
func (b *bucket) wait() time.Duration {
	if b.rate <= 0 {
		return step
	}
	if b.tokens >= api.PageSize {
		return 0
	}
	return time.Duration((api.PageSize - b.tokens) / b.rate * float64(time.Second))
}

func (g *Guest) run(ctx context.Context) {
	defer close(g.done)
	wr, rd := newBucket(g.cfg.DirtyRate), newBucket(g.cfg.ReadRate)
	last := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		if !g.waitRunning(ctx) {
			return
		}
		now := time.Now()
		if g.resumedSince(last) {
			last = now // no credit for time spent paused
		}
		wr.refill(now.Sub(last))
		rd.refill(now.Sub(last))
		last = now
		write := wr.rate > 0 && wr.tokens >= api.PageSize
		read := !write && rd.rate > 0 && rd.tokens >= api.PageSize
		if !write && !read {
			d := min(wr.wait(), rd.wait(), step)
			timer.Reset(max(d, time.Millisecond))
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
			continue
		}
		if write {
			wr.tokens -= api.PageSize
		} else {
			rd.tokens -= api.PageSize
		}
		if err := g.access(ctx, write); err != nil && ctx.Err() != nil {
			return
		}
	}
}

// waitRunning blocks while paused; false when the guest should end.
func (g *Guest) waitRunning(ctx context.Context) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.paused && ctx.Err() == nil && g.state != api.StateStopped {
		g.pausedAt = time.Now()
		g.cond.Wait()
	}
	return ctx.Err() == nil && g.state != api.StateStopped
}

func (g *Guest) resumedSince(t time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pausedAt.After(t)
}

// access does one read or write of the next page; the read-before-write
// checks the page too. It holds g.mu throughout, which is what Pause waits on.
func (g *Guest) access(ctx context.Context, write bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused {
		return nil
	}
	gfn := g.next()
	v := g.versions[gfn]
	err := g.mem.Access(ctx, gfn, write, func(page []byte) {
		if err := Check(page, gfn, v); err != nil {
			g.checkFailed(gfn, err)
		}
		if write {
			nv := v + 1
			if nv == 0 {
				nv = 1 // 0 means never written
			}
			Fill(page, gfn, nv)
			g.versions[gfn] = nv
		}
	})
	if err != nil {
		if ctx.Err() == nil {
			g.checkFailed(gfn, err)
		}
		return err
	}
	if write {
		g.pagesWritten.Add(1)
	} else {
		g.pagesRead.Add(1)
	}
	return nil
}

// next picks the next page by pattern; g.mu held.
func (g *Guest) next() uint64 {
	switch g.cfg.Pattern {
	case Sequential:
		gfn := g.cursor % g.npages
		g.cursor = (gfn + 1) % g.npages
		return gfn
	case HotCold:
		var i uint64
		if g.hot >= g.npages || g.rng.Float64() < 0.9 {
			i = g.rng.Uint64N(g.hot)
		} else {
			i = g.hot + g.rng.Uint64N(g.npages-g.hot)
		}
		return (i * g.stride) % g.npages
	default:
		return g.rng.Uint64N(g.npages)
	}
}
