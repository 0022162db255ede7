package hostagent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"dcres/agentrpc"
	"dcres/api"
)

// lazyLoad is a home's background load during a lazy restore: the guest
// already runs, so a page it asks for (peer.fetch) is loaded first, and a
// page it writes back is newer than the checkpoint's copy and must not be
// overwritten by the loader.
type lazyLoad struct {
	v       *vm
	id      string
	batches []lazyBatch
	batchOf []int32 // gfn -> batch, -1 for pages not homed here

	mu       sync.Mutex
	done     []bool // page settled: loaded, or written since
	loaded   []bool // batch loaded
	inflight map[int]chan struct{}
	res      agentrpc.LoadResult
	err      error
	finished chan struct{}
	cancel   context.CancelFunc
}

type lazyBatch struct {
	src    agentrpc.Source
	ranges []api.Range
}

func newLazyLoad(v *vm, p agentrpc.LoadParams) *lazyLoad {
	l := &lazyLoad{v: v, id: p.ID, batchOf: make([]int32, v.npages), done: make([]bool, v.npages),
		inflight: map[int]chan struct{}{}, finished: make(chan struct{})}
	for i := range l.batchOf {
		l.batchOf[i] = -1
	}
	for _, src := range p.Sources {
		for _, b := range batchRanges(src.Ranges, agentrpc.MaxPagesPerCall) {
			bi := int32(len(l.batches))
			l.batches = append(l.batches, lazyBatch{src: src, ranges: b})
			for _, r := range b {
				for g := r.Start; g < r.Start+r.Count && g < v.npages; g++ {
					l.batchOf[g] = bi
				}
			}
		}
	}
	l.loaded = make([]bool, len(l.batches))
	return l
}

// run loads every batch in order (skipping those the guest already asked
// for), pullParallel at a time.
func (l *lazyLoad) run(ctx context.Context) {
	start := time.Now()
	defer close(l.finished)
	next := make(chan int)
	errc := make(chan error, pullParallel)
	var wg sync.WaitGroup
	for i := 0; i < pullParallel; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for bi := range next {
				if err := l.load(ctx, bi); err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
			}
		}()
	}
	var err error
feed:
	for bi := range l.batches {
		select {
		case next <- bi:
		case err = <-errc:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	l.mu.Lock()
	l.err = err
	l.res.Seconds = time.Since(start).Seconds()
	l.mu.Unlock()
	if err != nil {
		l.v.a.logf(api.Error, "VM %s: lazy restore of %s on %s failed: %v", l.v.name, l.id, l.v.a.cfg.Name, err)
	}
}

// load brings batch bi in once; concurrent askers wait for the first.
func (l *lazyLoad) load(ctx context.Context, bi int) error {
	l.mu.Lock()
	if l.loaded[bi] {
		l.mu.Unlock()
		return nil
	}
	if ch, ok := l.inflight[bi]; ok {
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		l.mu.Lock()
		ok := l.loaded[bi]
		l.mu.Unlock()
		if !ok {
			return fmt.Errorf("pages %d+ of %s could not be loaded", l.batches[bi].ranges[0].Start, l.id)
		}
		return nil
	}
	ch := make(chan struct{})
	l.inflight[bi] = ch
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.inflight, bi)
		l.mu.Unlock()
		close(ch)
	}()

	b := l.batches[bi]
	pages := map[uint64][]byte{}
	collect := func(g uint64, page []byte, _ bool) error {
		pages[g] = append([]byte(nil), page...)
		return nil
	}
	var err error
	prog := l.v.progress("restore", l.id, "background load")
	if b.src.Host == l.v.a.cfg.Name {
		err = l.v.loadLocal(srcID(b.src, l.id), b.src.Of, b.ranges, collect, prog)
	} else {
		err = l.v.pull(ctx, b.src.Host, srcID(b.src, l.id), b.src.Of, b.ranges, collect, prog)
	}
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range b.ranges {
		for g := r.Start; g < r.Start+r.Count; g++ {
			if l.done[g] {
				continue // written by the guest meanwhile: newer
			}
			if page, ok := pages[g]; ok {
				l.v.putHome(g, page)
				l.res.Pages++
				l.res.Bytes += api.PageSize
				if b.src.Host != l.v.a.cfg.Name {
					l.res.Pulled += api.PageSize
				}
			}
			l.done[g] = true
		}
	}
	l.loaded[bi] = true
	return nil
}

// ensure loads, before they are served, the pages [start, start+count) that
// are not loaded yet.
func (l *lazyLoad) ensure(ctx context.Context, start, count uint64) error {
	for g := start; g < start+count && g < uint64(len(l.batchOf)); g++ {
		l.mu.Lock()
		settled := l.done[g]
		bi := l.batchOf[g]
		l.mu.Unlock()
		if settled || bi < 0 {
			continue
		}
		if err := l.load(ctx, int(bi)); err != nil {
			return err
		}
	}
	return nil
}

// write stores pages the guest wrote back: they win over the loader.
func (l *lazyLoad) write(g uint64, page []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.v.putHome(g, page)
	l.done[g] = true
}

// wait blocks until the background load ended.
func (l *lazyLoad) wait(ctx context.Context) (*agentrpc.LoadResult, error) {
	select {
	case <-l.finished:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	res := l.res
	return &res, l.err
}
