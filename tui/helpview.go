package tui

import (
	"fmt"
	"strings"
)

// helpView is the full help overlay on `?`.
type helpView struct{ c *Common }

func (hv helpView) View() string {
	s := hv.c.Styles
	lines := []string{s.Label.Render("dcres console keys"), ""}
	for _, group := range hv.c.Keys.FullHelp() {
		for _, b := range group {
			h := b.Help()
			lines = append(lines, fmt.Sprintf("  %-10s %s", h.Key, h.Desc))
		}
		lines = append(lines, "")
	}
	lines = append(lines,
		"Restore opens a placement picker, then shows the plan before it runs.",
		"Restore over a running guest, delete and quit during an operation ask",
		"first; the default (enter) is no.")
	if hv.c.ReadOnly {
		lines = append(lines, "", s.Badge.Render(" READ-ONLY ")+" every action is disabled in this console.")
	}
	lines = append(lines, "", s.Subtle.Render("? or esc closes this help"))
	return s.Dialog.Render(strings.Join(lines, "\n"))
}
