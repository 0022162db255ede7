package tui

import (
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// Common is what every component shares: styles, key map, clock and mode.
// It is held by pointer so a background-colour change or a resize reaches
// every component at once.
type Common struct {
	Styles   Styles
	Keys     KeyMap
	Now      func() time.Time
	ReadOnly bool
	// Replay is set when the Controller is an api.Player: a recording, so
	// read-only too, with the replay keys and bar.
	Replay bool
	Width  int
	Height int
	// hostIndex gives every host a stable letter and colour by first sight,
	// so the memory map and the panels agree on who is who.
	hostIndex map[string]int
}

// Component is one panel of the console, in the manner of soft-serve's
// pkg/ui/common.Component.
type Component interface {
	Update(msg tea.Msg) tea.Cmd
	View() string
	SetSize(width, height int)
}

// HostIndex returns the stable index of a host, assigning the next one on
// first sight.
func (c *Common) HostIndex(host string) int {
	if c.hostIndex == nil {
		c.hostIndex = map[string]int{}
	}
	i, ok := c.hostIndex[host]
	if !ok {
		i = len(c.hostIndex)
		c.hostIndex[host] = i
	}
	return i
}

// HostLetter is the one-letter mark of a host in the memory map: the map must
// stay readable without colour.
func (c *Common) HostLetter(host string) byte {
	if host == "" {
		return '.'
	}
	const letters = "abcdefghijklmnopqrstuvwxyz"
	return letters[c.HostIndex(host)%len(letters)]
}

// fit makes s exactly w columns wide and h lines tall: long lines are cut,
// short ones padded, extra lines dropped. Components return fitted views so
// the root can join them without the layout shifting.
func fit(s string, w, h int) string {
	if w <= 0 || h <= 0 {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	for i, l := range lines {
		lines[i] = fitLine(l, w)
	}
	return strings.Join(lines, "\n")
}

// fitLine cuts or pads one line to exactly w columns, keeping ANSI styling.
func fitLine(l string, w int) string {
	lw := ansi.StringWidth(l)
	if lw > w {
		return ansi.Truncate(l, w, "…")
	}
	return l + strings.Repeat(" ", w-lw)
}

// keyMatches reports whether a key press matches a binding (enabled or not:
// read-only refusal is decided by the root, which says why).
func keyMatches(k tea.KeyPressMsg, b key.Binding) bool {
	s := k.String()
	for _, want := range b.Keys() {
		if s == want {
			return true
		}
	}
	return false
}

// lipglossWidth is the width of a styled string in cells.
func lipglossWidth(s string) int { return ansi.StringWidth(s) }
