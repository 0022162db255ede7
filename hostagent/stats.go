package hostagent

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"dcres/agentrpc"
	"dcres/api"
)

// statsLoop sends every VM's figures to the operators once a period.
func (a *Agent) statsLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.StatsEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.mu.Lock()
		vms := make([]*vm, 0, len(a.vms))
		for _, v := range a.vms {
			vms = append(vms, v)
		}
		a.mu.Unlock()
		for _, v := range vms {
			a.notify(agentrpc.EventStats, v.stats())
		}
	}
}

// stats samples this host's figures for v; rates are since the last sample.
func (v *vm) stats() agentrpc.StatsEvent {
	now := time.Now()
	ev := agentrpc.StatsEvent{VM: v.name}
	h := api.HostStats{Host: v.a.cfg.Name, Role: "sub", Connected: true,
		HomePages: int64(v.store.Count()), CapacityPages: int64(homePages(v)), RSSBytes: rss()}
	v.mu.Lock()
	dt := now.Sub(v.lastAt).Seconds()
	first := v.lastAt.IsZero()
	v.lastAt = now
	if v.guest != nil {
		h.Role = "main"
		s := v.guest.paging()
		h.CachedPages, h.DirtyPages = int64(s.CachedPages), int64(s.DirtyPages)
		h.CapacityPages += int64(v.setup.CacheBytes / api.PageSize)
		if !first && dt > 0 {
			h.PagesIn = float64(s.PagesIn-v.lastStats.PagesIn) / dt
			h.PagesOut = float64(s.PagesOut-v.lastStats.PagesOut) / dt
			ev.DirtyByHost = map[string]float64{}
			for i, b := range s.WrittenByHost {
				var before uint64
				if i < len(v.lastStats.WrittenByHost) {
					before = v.lastStats.WrittenByHost[i]
				}
				ev.DirtyByHost[v.setup.Hosts[i]] = float64(b-before) / dt
			}
		}
		v.lastStats = s
		st := v.guest.status()
		st.State = v.stateLocked()
		if v.running {
			st.Uptime = now.Sub(v.started)
		}
		ev.Guest = &st
	}
	v.mu.Unlock()
	ev.Host = h
	return ev
}

func (v *vm) stateLocked() string {
	switch {
	case v.guestExited(false) != nil: // QEMU died: nothing runs or waits
		return api.StateStopped
	case v.paused:
		return api.StatePaused
	case v.running:
		return api.StateRunning
	}
	return api.StateStopped
}

// logf logs locally and reports the line to the operators.
func (a *Agent) logf(level api.Level, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	a.cfg.Logf("%s: %s", level, msg)
	a.notify(agentrpc.EventLog, agentrpc.LogEvent{Level: level, Message: msg})
}

// rss is this process's resident set size in bytes.
func rss() int64 {
	return procStatusKB("VmRSS:", "/proc/self/status") * 1024
}

// memTotal is the machine's memory in bytes.
func memTotal() int64 {
	return procStatusKB("MemTotal:", "/proc/meminfo") * 1024
}

func procStatusKB(key, path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, key) {
			fields := strings.Fields(line[len(key):])
			if len(fields) > 0 {
				n, _ := strconv.ParseInt(fields[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// limitLog returns a reporter of page errors that sends at most one line a
// second to the operators, with the count of those it folded in: a lost
// home makes every access fail, and the log must stay readable.
func (a *Agent) limitLog(level api.Level, what string) func(gfn uint64, err error) {
	var mu sync.Mutex
	var last time.Time
	folded := 0
	return func(gfn uint64, err error) {
		mu.Lock()
		now := time.Now()
		if now.Sub(last) < time.Second {
			folded++
			mu.Unlock()
			return
		}
		n := folded
		folded, last = 0, now
		mu.Unlock()
		more := ""
		if n > 0 {
			more = fmt.Sprintf(" (and %d more errors in the last second)", n)
		}
		a.logf(level, "%s: page %d failed its check: %v%s", what, gfn, err, more)
	}
}
