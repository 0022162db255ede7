package tui

import (
	"time"

	"strings"

	tea "charm.land/bubbletea/v2"
)

// shortHelp is the one-line help: key:word pairs, compact enough for 80
// columns with every action key.
func shortHelp(bs []keyBinding) string {
	var parts []string
	for _, b := range bs {
		h := b.Help()
		parts = append(parts, h.Key+":"+h.Desc)
	}
	return strings.Join(parts, " ")
}

// shortHelpFit is shortHelp without the bindings in drop (in that order)
// while it is wider than w: help and quit must stay visible at 80 columns.
func shortHelpFit(bs []keyBinding, w int, drop ...keyBinding) string {
	line := shortHelp(bs)
	for _, d := range drop {
		if lipglossWidth(line) <= w {
			break
		}
		var kept []keyBinding
		for _, b := range bs {
			if b.Help().Key != d.Help().Key {
				kept = append(kept, b)
			}
		}
		bs = kept
		line = shortHelp(bs)
	}
	return line
}

// statusLine is the bottom two lines: what is running and the last result or
// error (kept visible until the next success or esc), then the key help.
type statusLine struct {
	c       *Common
	running string
	msg     string
	err     string
	errAt   time.Time
	w, h    int
}

func newStatusLine(c *Common) *statusLine {
	return &statusLine{c: c}
}

func (s *statusLine) SetSize(w, h int) { s.w, s.h = w, h }

func (s *statusLine) Update(msg tea.Msg) tea.Cmd {
	return nil
}

// info shows a result; it does not hide an earlier error.
func (s *statusLine) info(text string) { s.msg = text }

// success shows a result and clears the error it supersedes.
func (s *statusLine) success(text string) { s.msg, s.err = text, "" }

// fail shows an error until the next success or esc.
func (s *statusLine) fail(text string) { s.err, s.errAt, s.msg = text, s.c.Now(), "" }

func (s *statusLine) clearError() { s.err, s.msg = "", "" }

func (s *statusLine) View() string {
	st := s.c.Styles
	line := ""
	if s.running != "" {
		line = st.Warn.Render("⏳ "+s.running+" running") + "  "
	}
	// A fresh note (a refusal, a result) comes first; a standing error
	// stays visible after it.
	if s.msg != "" {
		line += s.msg + "  "
	}
	switch {
	case s.err != "":
		line += st.Err.Render("✗ ERROR "+s.errAt.Format("15:04:05")+": "+s.err) + st.Subtle.Render(" (esc)")
	case s.msg == "" && s.running == "":
		line += st.Subtle.Render("ready")
	}
	keys := shortHelpFit(s.c.Keys.ShortHelp(), s.w, s.c.Keys.Filter, s.c.Keys.Next)
	switch {
	case s.c.Replay:
		k := s.c.Keys
		keys = st.Badge.Render(" REPLAY ") + " " + shortHelpFit([]keyBinding{k.Pause, k.Faster, k.Slower, k.Step, k.Back, k.Forward, k.Start, k.End, k.Next, k.Help, k.Quit}, s.w-9, k.Next, k.Start, k.End)
	case s.c.ReadOnly:
		k := s.c.Keys
		keys = st.Badge.Render(" READ-ONLY: actions disabled ") + " " + shortHelp([]keyBinding{k.Next, k.Up, k.Down, k.Filter, k.Help, k.Quit})
	}
	return fit(line+"\n"+keys, s.w, s.h)
}
