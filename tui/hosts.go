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
	panelLines    = 8
	panelMinWidth = 40
)

// hostState is what the console knows about one host.
type hostState struct {
	stats    api.HostStats
	samples  []float64 // dirty rate, oldest first
	progress *api.Progress
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
		case api.EvOpDone:
			// The operation is over: its progress bars go away.
			for _, st := range hs.byName {
				if st.progress != nil && (msg.ID == "" || st.progress.ID == msg.ID || st.progress.Op == msg.Op) {
					st.progress = nil
				}
			}
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
		return s.Err.Render("✗ DISCONNECTED")
	}
	return s.OK.Render("● up") + " " + fmtDur(st.stats.RTT.Round(100*time.Microsecond))
}

func (hs *hosts) panel(st *hostState, w int) string {
	s := hs.c.Styles
	iw := w - 2 // inside the border
	x := st.stats
	name := s.Host(hs.c.HostIndex(x.Host)).Bold(true).Render(fmt.Sprintf("[%c] %s", hs.c.HostLetter(x.Host), x.Host))
	barW := iw - 26
	if barW < 4 {
		barW = 4
	}
	lines := []string{
		name + " " + s.Subtle.Render(x.Role+" "+x.Addr) + "  " + hs.connText(st),
		fmt.Sprintf("home  %s %3.0f%% %s", bar(s, frac(x.HomePages, x.CapacityPages), barW), 100*frac(x.HomePages, x.CapacityPages), fmtBytes(x.HomePages*api.PageSize)),
		fmt.Sprintf("cache %s %3.0f%% %s", bar(s, frac(x.CachedPages, x.CapacityPages), barW), 100*frac(x.CachedPages, x.CapacityPages), fmtBytes(x.CachedPages*api.PageSize)),
		fmt.Sprintf("cap %s  dirty pages %s", fmtBytes(x.CapacityPages*api.PageSize), fmtBytes(x.DirtyPages*api.PageSize)),
		fmt.Sprintf("dirty %-10s %s", fmtRate(x.DirtyRate), sparkline(st.samples, iw-18)),
		fmt.Sprintf("pages in %s/s  out %s/s", fmtCount(x.PagesIn), fmtCount(x.PagesOut)),
		hs.progressLine(st.progress, iw),
	}
	style := s.Panel
	if !x.Connected {
		style = s.PanelOff
	}
	return style.Render(fit(strings.Join(lines, "\n"), iw, len(lines)))
}

// progressLine is the bar of a running checkpoint or restore on this host.
func (hs *hosts) progressLine(p *api.Progress, w int) string {
	s := hs.c.Styles
	if p == nil {
		return s.Subtle.Render("idle")
	}
	eta := "-"
	if p.Rate > 0 && p.Total >= p.Done {
		eta = fmtDur(time.Duration(float64(p.Total-p.Done) / p.Rate * float64(time.Second)))
	}
	text := fmt.Sprintf(" %3.0f%% %s/%s %s eta %s", 100*frac(p.Done, p.Total), fmtBytes(p.Done), fmtBytes(p.Total), fmtRate(p.Rate), eta)
	head := fmt.Sprintf("%s %s ", p.Op, p.Phase)
	bw := w - len([]rune(head)) - len([]rune(text))
	if bw < 3 {
		bw = 3
	}
	return s.Warn.Render(head) + bar(s, frac(p.Done, p.Total), bw) + text
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
		head := s.Host(hs.c.HostIndex(name)).Bold(true).Render(fmt.Sprintf("[%c]%-6.6s", hs.c.HostLetter(name), name)) + " " + fmt.Sprintf("%-4.4s", x.Role)
		conn := hs.connText(st)
		if !x.Connected {
			conn = s.Err.Render("✗ DOWN")
		}
		line := fmt.Sprintf("%s %s home %s%3.0f%% cache%3.0f%% dirty %9s %s",
			head, conn, bar(s, frac(x.HomePages, x.CapacityPages), 4), 100*frac(x.HomePages, x.CapacityPages),
			100*frac(x.CachedPages, x.CapacityPages), fmtRate(x.DirtyRate), sparkline(st.samples, 8))
		if p := st.progress; p != nil {
			line += " " + s.Warn.Render(fmt.Sprintf("%s %s %3.0f%%", p.Op, p.Phase, 100*frac(p.Done, p.Total)))
			if p.Rate > 0 && p.Total >= p.Done {
				line += " eta " + fmtDur(time.Duration(float64(p.Total-p.Done)/p.Rate*float64(time.Second)))
			}
		} else {
			line += fmt.Sprintf(" in %s/s out %s/s", fmtCount(x.PagesIn), fmtCount(x.PagesOut))
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}
