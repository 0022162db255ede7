package tui

import (
	"fmt"
	"strings"

	"charm.land/lipgloss/v2"
)

// helpView is the full help overlay on `?`: the key groups side by side,
// so it fits in 80x24.
type helpView struct{ c *Common }

func (hv helpView) View() string {
	s := hv.c.Styles
	var cols []string
	groups := hv.c.Keys.FullHelp()
	if hv.c.Replay {
		groups = append(groups, hv.c.Keys.ReplayHelp())
	}
	for _, group := range groups {
		kw, dw := 0, 0
		for _, b := range group {
			kw = max(kw, lipglossWidth(b.Help().Key))
			dw = max(dw, len(longHelp[b.Help().Key]))
		}
		var lines []string
		for _, b := range group {
			h := b.Help()
			lines = append(lines, fmt.Sprintf("%-*s %-*s  ", kw, h.Key, dw, longHelp[h.Key]))
		}
		cols = append(cols, strings.Join(lines, "\n"))
	}
	lines := []string{s.Label.Render("dcres console keys"), "", lipgloss.JoinHorizontal(lipgloss.Top, cols...), "",
		"r opens a placement picker, then shows the plan before it runs.",
		"Restore over a running guest, delete, and quit while an operation",
		"runs ask first; the default (enter) is no."}
	switch {
	case hv.c.Replay:
		lines = append(lines, "", s.Badge.Render(" REPLAY ")+" a recording: every action is disabled.")
	case hv.c.ReadOnly:
		lines = append(lines, "", s.Badge.Render(" READ-ONLY ")+" every action is disabled in this console.")
	}
	lines = append(lines, s.Subtle.Render("? or esc closes this help"))
	return s.Dialog.Render(strings.Join(lines, "\n"))
}

// longHelp is the overlay's wording of each key, by its help key.
var longHelp = map[string]string{
	"c": "dcres checkpoint", "l": "live checkpoint", "t": "traditional ckpt",
	"r": "restore selected", "v": "verify sel./guest", "d": "delete selected",
	"tab": "next panel", "shift+tab": "previous panel", "↑/k": "up / older", "↓/j": "down / newer",
	"/": "filter the log", "?": "this help", "q": "quit", "y": "yes (confirm)",
	"esc": "no/close/clear", "enter": "choose; no in y/N",
	"space": "pause / resume", "+": "faster", "-": "slower", ".": "step one event",
	"←": "back 10 s", "→": "forward 10 s", "g": "to the start", "G": "to the end",
}
