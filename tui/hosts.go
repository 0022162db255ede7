package tui

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"dcres/api"
)

// sparkSamples is how many dirty-rate samples a host panel keeps.
const sparkSamples = 60

// Host panel geometry: a boxed panel is panelLines tall (with its border) and
// at least panelMinWidth wide.
const (
	panelLines    = 9 // 7 lines inside a border
	panelMinWidth = 40
)

// hostState is what the console knows about one host.
type hostState struct {
	stats    api.HostStats
	samples  []float64 // dirty rate, oldest first
	progress *api.Progress
	// last is this host's share of the last finished operation, so a
	// checkpoint shorter than a frame still leaves its figures on screen.
	last string
}

// hosts shows one panel per host, as boxed panels in a grid when there is
// room and as one line per host otherwise.
type hosts struct {
	c       *Common
	order   []string
	byName  map[string]*hostState
	w, h    int
	offset  int // first host shown in compact mode
	focused bool
}

func newHosts(c *Common) *hosts { return &hosts{c: c, byName: map[string]*hostState{}} }

func (hs *hosts) SetSize(w, h int) { hs.w, hs.h = w, h }

// Update takes host figures and progress. It returns no command; the root
// reads connection changes from apply.
func (hs *hosts) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case api.Event:
		switch msg.Type {
		case api.EvHosts:
			hs.apply(msg.Hosts)
		case api.EvProgress:
			if p := msg.Progress; p != nil {
				st := hs.get(p.Host)
				cp := *p
				st.progress = &cp
			}
		case api.EvOpStart:
			// A new operation: the last one's shares are no longer news.
			for _, st := range hs.byName {
				st.last = ""
			}
		case api.EvOpDone:
			hs.opDone(msg)
		}
	case tea.KeyPressMsg:
		if !hs.focused {
			return nil
		}
		switch {
		case keyMatches(msg, hs.c.Keys.Up):
			if hs.offset > 0 {
				hs.offset--
			}
		case keyMatches(msg, hs.c.Keys.Down):
			if hs.offset < len(hs.order)-1 {
				hs.offset++
			}
		}
	}
	return nil
}

// opDone ends an operation's progress bars and keeps each host's share of
// it: from the result's per-host figures when the coordinator sent them,
// else from the last progress sample.
func (hs *hosts) opDone(ev api.Event) {
	for _, st := range hs.byName {
		p := st.progress
		if p == nil || !(ev.ID == "" || p.ID == ev.ID || p.Op == ev.Op) {
			continue
		}
		st.progress = nil
		switch {
		case ev.Level == api.Error:
			st.last = "last " + p.Op + " failed at " + p.Phase
		case p.Rate > 0:
			st.last = fmt.Sprintf("last %s: %s in %s", p.Op, fmtBytes(p.Done), fmtSecs(float64(p.Done)/p.Rate))
		default:
			st.last = fmt.Sprintf("last %s: %s", p.Op, fmtBytes(p.Done))
		}
	}
	var per []api.HostResult
	switch {
	case ev.Checkpoint != nil:
		per = ev.Checkpoint.PerHost
	case ev.Restore != nil:
		per = ev.Restore.PerHost
	}
	for _, r := range per {
		st := hs.get(r.Host)
		st.last = fmt.Sprintf("last %s: %s in %s", ev.Op, fmtBytes(r.Bytes), fmtSecs(r.Seconds))
		if r.Pulled > 0 {
			st.last += ", pulled " + fmtBytes(r.Pulled)
		}
	}
}

func (hs *hosts) get(name string) *hostState {
	st, ok := hs.byName[name]
	if !ok {
		st = &hostState{stats: api.HostStats{Host: name}}
		hs.byName[name] = st
		hs.order = append(hs.order, name)
		hs.c.HostIndex(name)
	}
	return st
}

// apply takes a host sample and returns the connection changes it shows,
// for the event log.
func (hs *hosts) apply(list []api.HostStats) []string {
	var changes []string
	for _, s := range list {
		_, known := hs.byName[s.Host]
		st := hs.get(s.Host)
		if known && st.stats.Connected != s.Connected {
			if s.Connected {
				changes = append(changes, fmt.Sprintf("host %s reconnected", s.Host))
			} else {
				changes = append(changes, fmt.Sprintf("host %s disconnected", s.Host))
			}
		} else if !known && !s.Connected {
			changes = append(changes, fmt.Sprintf("host %s is not connected", s.Host))
		}
		st.stats = s
		if !s.Connected {
			// A down host's figures are its last ones: no new sample.
			continue
		}
		st.samples = append(st.samples, s.DirtyRate)
		if len(st.samples) > sparkSamples {
			st.samples = st.samples[len(st.samples)-sparkSamples:]
		}
	}
	return changes
}

// gridColumns is how many boxed panels fit side by side in width w.
func gridColumns(w int) int {
	cols := w / panelMinWidth
	if cols < 1 {
		cols = 1
	}
	return cols
}

// fullHeight is the height the boxed grid needs at width w.
func (hs *hosts) fullHeight(w int) int {
	n := len(hs.order)
	if n == 0 {
		return 1
	}
	cols := gridColumns(w)
	return (n + cols - 1) / cols * panelLines
}

// compactHeight is the height of the one-line-per-host form.
func (hs *hosts) compactHeight() int {
	if len(hs.order) == 0 {
		return 1
	}
	return len(hs.order)
}

func (hs *hosts) View() string {
	if len(hs.order) == 0 {
		return fit(hs.c.Styles.Subtle.Render("no hosts reported yet"), hs.w, hs.h)
	}
	if hs.fullHeight(hs.w) <= hs.h {
		return fit(hs.grid(), hs.w, hs.h)
	}
	return fit(hs.compact(), hs.w, hs.h)
}

func (hs *hosts) grid() string {
	cols := gridColumns(hs.w)
	pw := hs.w / cols
	var rows []string
	for i := 0; i < len(hs.order); i += cols {
		var row []string
		for j := i; j < i+cols && j < len(hs.order); j++ {
			row = append(row, hs.panel(hs.byName[hs.order[j]], pw))
		}
		rows = append(rows, lipgloss.JoinHorizontal(lipgloss.Top, row...))
	}
	return strings.Join(rows, "\n")
}

// connText spells the connection state, so it reads without colour.
func (hs *hosts) connText(st *hostState) string {
	s := hs.c.Styles
	if !st.stats.Connected {
		return s.Err.Render("✗ DOWN")
	}
	return s.OK.Render("● up") + " " + fmtDur(st.stats.RTT)
}

func (hs *hosts) panel(st *hostState, w int) string {
	s := hs.c.Styles
	iw := w - 2 // inside the border
	x := st.stats
	name := s.Host(hs.c.HostIndex(x.Host)).Bold(true).Render(fmt.Sprintf("[%c] %s", hs.c.HostLetter(x.Host), x.Host))
	barW := iw - 29
	if barW < 4 {
		barW = 4
	}
	// The connection state comes before the address: when the line is cut,
	// the address goes first.
	lines := []string{
		name + " " + hs.connText(st) + "  " + s.Subtle.Render(x.Role+" "+x.Addr),
		fmt.Sprintf("home  %s %3.0f%% %s/%s", bar(s, frac(x.HomePages, x.CapacityPages), barW), 100*frac(x.HomePages, x.CapacityPages), fmtBytes(x.HomePages*api.PageSize), fmtBytes(x.CapacityPages*api.PageSize)),
		fmt.Sprintf("cache %s %3.0f%% %s", bar(s, frac(x.CachedPages, x.CapacityPages), barW), 100*frac(x.CachedPages, x.CapacityPages), fmtBytes(x.CachedPages*api.PageSize)),
		fmt.Sprintf("dirty pg %s in %s/s out %s/s", fmtBytes(x.DirtyPages*api.PageSize), fmtCount(x.PagesIn), fmtCount(x.PagesOut)),
		fmt.Sprintf("dirty rate %-10s %s", fmtRate(x.DirtyRate), sparkline(st.samples, iw-22)),
	}
	if !x.Connected {
		lines[4] = s.Err.Render("figures are stale: host is down")
	}
	lines = append(lines, hs.progressLines(st, iw)...)
	style := s.Panel
	if !x.Connected {
		style = s.PanelOff
	}
	return style.Render(fit(strings.Join(lines, "\n"), iw, len(lines)))
}

// eta is the time left at the current rate, "-" when unknown.
func eta(p *api.Progress) string {
	if p.Rate <= 0 || p.Total < p.Done {
		return "-"
	}
	return fmtDur(time.Duration(float64(p.Total-p.Done) / p.Rate * float64(time.Second)))
}

// progressLines are the two lines of a running checkpoint or restore on
// this host: phase, bar, share and ETA; then bytes and rate.
func (hs *hosts) progressLines(st *hostState, w int) []string {
	s := hs.c.Styles
	p := st.progress
	if p == nil {
		return []string{s.Subtle.Render("idle"), s.Subtle.Render(st.last)}
	}
	head := p.Op + " " + p.Phase + " "
	tail := fmt.Sprintf(" %3.0f%% eta %s", 100*frac(p.Done, p.Total), eta(p))
	bw := w - len([]rune(head)) - len([]rune(tail))
	if bw < 3 {
		bw = 3
	}
	line2 := fmt.Sprintf("%s of %s at %s", fmtBytes(p.Done), fmtBytes(p.Total), fmtRate(p.Rate))
	if p.Pulled > 0 {
		line2 += ", pulled " + fmtBytes(p.Pulled)
	}
	return []string{s.Warn.Render(head) + bar(s, frac(p.Done, p.Total), bw) + tail, line2}
}

// compact is one line per host, scrolled so the focused offset is first.
func (hs *hosts) compact() string {
	s := hs.c.Styles
	start := hs.offset
	if max := len(hs.order) - hs.h; start > max {
		start = max
	}
	if start < 0 {
		start = 0
	}
	var lines []string
	for _, name := range hs.order[start:] {
		st := hs.byName[name]
		x := st.stats
		head := s.Host(hs.c.HostIndex(name)).Bold(true).Render(fmt.Sprintf("[%c]%-4.4s", hs.c.HostLetter(name), name)) + " " + fmt.Sprintf("%-4.4s", x.Role)
		conn := s.OK.Render("●") + fmt.Sprintf(" %-6s", fmtDur(x.RTT))
		if !x.Connected {
			conn = s.Err.Render("✗ DOWN  ")
		}
		line := fmt.Sprintf("%s %s home%4.0f%% cache%3.0f%% dirty %9s ",
			head, conn, 100*frac(x.HomePages, x.CapacityPages),
			100*frac(x.CachedPages, x.CapacityPages), fmtRate(x.DirtyRate))
		tail := fmt.Sprintf(" in %s out %s", fmtCount(x.PagesIn), fmtCount(x.PagesOut))
		if p := st.progress; p != nil {
			tail = " " + s.Warn.Render(fmt.Sprintf("%s %3.0f%% eta %s", p.Phase, 100*frac(p.Done, p.Total), eta(p)))
		}
		// The sparkline gets what the fixed fields leave, up to 16 samples.
		sw := clamp(hs.w-lipglossWidth(line)-lipglossWidth(tail), 0, 16)
		lines = append(lines, line+sparkline(st.samples, sw)+tail)
	}
	return strings.Join(lines, "\n")
}
