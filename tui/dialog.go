package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// dialog is a modal box: a question (y = yes; Enter means no unless
// enterYes) or a picker of options. It owns the keyboard while open.
type dialog struct {
	c        *Common
	title    string
	body     []string
	options  []string // a picker when not empty
	labels   []string // shown instead of options when set
	sel      int
	enterYes bool
	onYes    func() tea.Cmd
	onPick   func(option string) tea.Cmd
	closed   bool
}

// confirm asks a yes/no question; the default (Enter) is no unless enterYes.
func confirm(c *Common, title string, body []string, enterYes bool, onYes func() tea.Cmd) *dialog {
	return &dialog{c: c, title: title, body: body, enterYes: enterYes, onYes: onYes}
}

// picker offers options; Enter picks the highlighted one.
func picker(c *Common, title string, body, options, labels []string, onPick func(string) tea.Cmd) *dialog {
	return &dialog{c: c, title: title, body: body, options: options, labels: labels, onPick: onPick}
}

func (d *dialog) SetSize(w, h int) {}

func (d *dialog) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	keys := d.c.Keys
	if len(d.options) > 0 {
		switch {
		case keyMatches(k, keys.Up):
			if d.sel > 0 {
				d.sel--
			}
		case keyMatches(k, keys.Down):
			if d.sel < len(d.options)-1 {
				d.sel++
			}
		case keyMatches(k, keys.Enter):
			d.closed = true
			return d.onPick(d.options[d.sel])
		case keyMatches(k, keys.Cancel), keyMatches(k, keys.Quit):
			d.closed = true
		}
		return nil
	}
	switch {
	case keyMatches(k, keys.Yes), d.enterYes && keyMatches(k, keys.Enter):
		d.closed = true
		return d.onYes()
	case keyMatches(k, keys.Enter), keyMatches(k, keys.Cancel), keyMatches(k, keys.Quit):
		d.closed = true
	}
	return nil
}

func (d *dialog) View() string {
	s := d.c.Styles
	lines := []string{s.Label.Render(d.title), ""}
	lines = append(lines, d.body...)
	if len(d.options) > 0 {
		lines = append(lines, "")
		for i, o := range d.options {
			label := o
			if i < len(d.labels) {
				label = d.labels[i]
			}
			if i == d.sel {
				lines = append(lines, s.Selected.Render("> "+label))
			} else {
				lines = append(lines, "  "+label)
			}
		}
		lines = append(lines, "", s.Subtle.Render("↑/↓ choose  enter select  esc cancel"))
	} else if d.enterYes {
		lines = append(lines, "", s.Label.Render("[Y/n]")+s.Subtle.Render("  y or enter = yes, n/esc = no"))
	} else {
		lines = append(lines, "", s.Label.Render("[y/N]")+s.Subtle.Render("  y = yes, enter/n/esc = no"))
	}
	return s.Dialog.Render(strings.Join(lines, "\n"))
}

// overlay centres a box in a w×h area.
func overlay(box string, w, h int) string {
	return lipgloss.Place(w, h, lipgloss.Center, lipgloss.Center, box)
}
