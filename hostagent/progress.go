package hostagent

import (
	"sync"
	"time"

	"dcres/agentrpc"
	"dcres/api"
)

// progress reports one host's bytes done of a checkpoint or restore to the
// operators, at most every 100 ms plus once at the end.
type progress struct {
	a      *Agent
	mu     sync.Mutex
	p      api.Progress
	start  time.Time
	lastAt time.Time
}

func (v *vm) progress(op, id, phase string) *progress {
	return &progress{a: v.a, start: time.Now(), p: api.Progress{Op: op, ID: id, Host: v.a.cfg.Name, Phase: phase}}
}

func (p *progress) setTotal(n int64) {
	p.mu.Lock()
	p.p.Total = n
	p.mu.Unlock()
}

func (p *progress) add(n int64) { p.addPulled(n, 0) }

func (p *progress) addPulled(n, pulled int64) {
	p.mu.Lock()
	p.p.Done += n
	p.p.Pulled += pulled
	now := time.Now()
	send := now.Sub(p.lastAt) >= 100*time.Millisecond
	if send {
		p.lastAt = now
	}
	ev := p.snapshot(now)
	p.mu.Unlock()
	if send {
		p.a.notify(agentrpc.EventProgress, ev)
	}
}

func (p *progress) finish() {
	p.mu.Lock()
	ev := p.snapshot(time.Now())
	p.mu.Unlock()
	p.a.notify(agentrpc.EventProgress, ev)
}

func (p *progress) snapshot(now time.Time) api.Progress {
	ev := p.p
	if s := now.Sub(p.start).Seconds(); s > 0 {
		ev.Rate = float64(ev.Done) / s
	}
	return ev
}
