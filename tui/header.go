package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"dcres/api"
)

// header is the top line: profile, driver, guest state, memory, uptime,
// guest check errors and the read-only badge.
type header struct {
	c     *Common
	title string
	guest *api.GuestStatus
	w, h  int
}

func newHeader(c *Common, title string) *header { return &header{c: c, title: title} }

func (h *header) SetSize(w, ht int) { h.w, h.h = w, ht }

func (h *header) Update(msg tea.Msg) tea.Cmd {
	if ev, ok := msg.(api.Event); ok && ev.Type == api.EvGuest && ev.Guest != nil {
		g := *ev.Guest
		h.guest = &g
	}
	return nil
}

// state is the guest's state, "unknown" before the first report.
func (h *header) state() string {
	if h.guest == nil || h.guest.State == "" {
		return "unknown"
	}
	return h.guest.State
}

func (h *header) View() string {
	s := h.c.Styles
	sep := s.Subtle.Render(" │ ")
	title := h.title
	if title == "" {
		title = "(no profile)"
	}
	parts := []string{s.Title.Render("dcres " + title)}
	if h.guest == nil {
		parts = append(parts, s.Subtle.Render("guest: waiting for the coordinator…"))
	} else {
		g := h.guest
		st := g.State
		stStyle := s.OK
		switch g.State {
		case api.StatePaused, api.StateCheckpointing, api.StateRestoring, api.StateStarting:
			stStyle = s.Warn
		case api.StateStopped:
			stStyle = s.Err
		}
		parts = append(parts,
			s.Subtle.Render("driver ")+g.Driver,
			s.Subtle.Render("guest ")+stStyle.Render(st),
			s.Subtle.Render("mem ")+fmtBytes(g.MemoryBytes),
			s.Subtle.Render("up ")+fmtDur(g.Uptime),
		)
		if g.CheckErrors == 0 {
			parts = append(parts, s.OK.Render("checks ok"))
		} else {
			parts = append(parts, s.Err.Render(fmt.Sprintf("CHECK ERRORS %d", g.CheckErrors)))
		}
	}
	line := strings.Join(parts, sep)
	if lipglossWidth(line) > h.w-12 && h.guest != nil {
		// Narrow: the same facts without labels.
		g := h.guest
		short := []string{parts[0], g.Driver, parts[2][strings.Index(parts[2], "guest")+len("guest "):], fmtBytes(g.MemoryBytes), "up " + fmtDur(g.Uptime), parts[len(parts)-1]}
		line = strings.Join(short, sep)
	}
	switch {
	case h.c.Replay:
		line = s.Badge.Render(" REPLAY ") + " " + line
	case h.c.ReadOnly:
		line = s.Badge.Render(" READ-ONLY ") + " " + line
	}
	return fit(line, h.w, h.h)
}
