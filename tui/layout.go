package tui

import (
	"fmt"
	"strings"

	"charm.land/lipgloss/v2"
)

// wideWidth is where the console splits into two columns.
const wideWidth = 150

// render lays the components out for the current size: header, body,
// status and help. Every component is given an exact size, so the frame is
// always exactly Width×Height.
func (m *Model) render() string {
	w, h := m.c.Width, m.c.Height
	if w < 20 || h < 8 {
		return fit("dcres: terminal too small (need 80x24)", w, h)
	}
	m.status.running = m.running
	switch {
	case m.status.running == "":
		m.status.running = m.remoteOp
	case m.running == "scenario" && m.remoteOp != "":
		m.status.running = "scenario: " + m.remoteOp
	}
	m.header.SetSize(w, 1)
	m.status.SetSize(w, 2)
	bodyH := h - 3
	var bar string
	if m.replay != nil {
		bodyH--
		m.replay.SetSize(w, 1)
		bar = m.replay.View()
	}
	var note string
	if m.note != nil && !m.showHelp {
		// Above the status line, so the panels the note speaks of stay
		// in view.
		note = m.noteView(w, max(3, bodyH/2))
		bodyH -= strings.Count(note, "\n") + 1
	}
	var body string
	switch {
	case m.showHelp:
		body = overlay(helpView{m.c}.View(), w, bodyH)
	case m.modal != nil:
		body = overlay(m.modal.View(), w, bodyH)
	case w >= wideWidth:
		body = m.wide(w, bodyH)
	default:
		body = m.narrow(w, bodyH)
	}
	return strings.Join(nonEmpty([]string{m.header.View(), fit(body, w, bodyH), note, bar, m.status.View()}), "\n")
}

// title is a section heading; the focused one is marked in text as well
// as by style.
func (m *Model) title(name string, focus int, extra string) string {
	s := m.c.Styles
	if focus >= 0 && m.focus == focus {
		return s.Focused.Render("▶ "+name) + " " + s.Subtle.Render(extra)
	}
	return s.Section.Render("  "+name) + " " + s.Subtle.Render(extra)
}

func clamp(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// hostsHeight picks the boxed grid when it fits in limit, else one line
// per host up to limit.
func (m *Model) hostsHeight(w, limit int) int {
	if f := m.hosts.fullHeight(w); f <= limit {
		return f
	}
	return clamp(m.hosts.compactHeight(), 1, limit)
}

// memHeight is the legend plus the rows the map needs at width w, up to limit.
func (m *Model) memHeight(w, limit int) int {
	need := 1
	if m.memmap.m != nil {
		per := w / 2
		if per < 1 {
			per = 1
		}
		need = 1 + (len(m.memmap.m.Home)+per-1)/per
	}
	return clamp(need, 1, limit)
}

func (m *Model) ckptHeight(limit int) int {
	return clamp(len(m.ckpts.list)+1, 2, limit)
}

// section renders a titled component at w×h (h includes the title).
func (m *Model) section(name string, focus int, extra string, c Component, w, h int) string {
	if h < 2 {
		return ""
	}
	c.SetSize(w, h-1)
	return m.title(name, focus, extra) + "\n" + c.View()
}

func (m *Model) hostsExtra() string {
	up := 0
	for _, n := range m.hosts.order {
		if m.hosts.byName[n].stats.Connected {
			up++
		}
	}
	return fmt.Sprintf("%d hosts, %d connected", len(m.hosts.order), up)
}

func (m *Model) logExtra() string {
	if m.log.filter != "" {
		return fmt.Sprintf("filter %q, %d of %d", m.log.filter, len(m.log.visible()), len(m.log.entries))
	}
	return fmt.Sprintf("%d events, / to filter", len(m.log.entries))
}

// narrow stacks the sections: hosts, memory map, checkpoints, log.
func (m *Model) narrow(w, h int) string {
	hostsH := 1 + m.hostsHeight(w, max(2, h*11/20-1))
	memH := m.memHeight(w, max(2, h/6))
	ckH := 1 + m.ckptHeight(max(2, h/5))
	logH := h - hostsH - memH - ckH
	if logH < 3 {
		// Give the log at least a title and two lines: take them from the
		// hosts first, which scroll.
		take := 3 - logH
		hostsH = max(2, hostsH-take)
		logH = h - hostsH - memH - ckH
	}
	m.memmap.SetSize(w, memH)
	parts := []string{
		m.section("Hosts", focusHosts, m.hostsExtra(), m.hosts, w, hostsH),
		m.memmap.View(),
		m.section("Checkpoints", focusCheckpoints, fmt.Sprintf("%d", len(m.ckpts.list)), m.ckpts, w, ckH),
		m.section("Events", focusLog, m.logExtra(), m.log, w, logH),
	}
	return strings.Join(nonEmpty(parts), "\n")
}

// wide puts hosts and the map on the left, checkpoints and the log on the
// right.
func (m *Model) wide(w, h int) string {
	lw := w * 11 / 20
	rw := w - lw - 1
	// Hosts get what they need (boxed if that fits in two thirds), the map
	// the rest: more rows give it a finer grain.
	hostsH := 1 + m.hostsHeight(lw, max(2, h*2/3-1))
	memH := h - hostsH
	m.memmap.SetSize(lw, memH)
	left := fit(m.section("Hosts", focusHosts, m.hostsExtra(), m.hosts, lw, hostsH)+"\n"+m.memmap.View(), lw, h)
	ckH := 1 + m.ckptHeight(max(3, h/2))
	right := fit(m.section("Checkpoints", focusCheckpoints, fmt.Sprintf("%d", len(m.ckpts.list)), m.ckpts, rw, ckH)+"\n"+
		m.section("Events", focusLog, m.logExtra(), m.log, rw, h-ckH), rw, h)
	sep := strings.TrimSuffix(strings.Repeat(m.c.Styles.Subtle.Render("│")+"\n", h), "\n")
	return lipgloss.JoinHorizontal(lipgloss.Top, left, sep, right)
}

func nonEmpty(parts []string) []string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}
