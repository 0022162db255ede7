package tui

import (
	"time"

	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"
)

// statusLine is the bottom two lines: what is running and the last result or
// error (kept visible until the next success or esc), then the key help.
type statusLine struct {
	c       *Common
	help    help.Model
	running string
	msg     string
	err     string
	errAt   time.Time
	w, h    int
}

func newStatusLine(c *Common) *statusLine {
	s := &statusLine{c: c, help: help.New()}
	s.help.Styles = help.DefaultStyles(c.Styles.IsDark)
	return s
}

func (s *statusLine) SetSize(w, h int) { s.w, s.h = w, h; s.help.SetWidth(w) }

func (s *statusLine) Update(msg tea.Msg) tea.Cmd {
	if bg, ok := msg.(tea.BackgroundColorMsg); ok {
		s.help.Styles = help.DefaultStyles(bg.IsDark())
	}
	return nil
}

// info shows a result; it does not hide an earlier error.
func (s *statusLine) info(text string) { s.msg = text }

// success shows a result and clears the error it supersedes.
func (s *statusLine) success(text string) { s.msg, s.err = text, "" }

// fail shows an error until the next success or esc.
func (s *statusLine) fail(text string) { s.err, s.errAt = text, s.c.Now() }

func (s *statusLine) clearError() { s.err = "" }

func (s *statusLine) View() string {
	st := s.c.Styles
	line := ""
	if s.running != "" {
		line = st.Warn.Render("⏳ "+s.running+" running") + "  "
	}
	switch {
	case s.err != "":
		line += st.Err.Render("✗ ERROR "+s.errAt.Format("15:04:05")+": "+s.err) + st.Subtle.Render(" (esc to dismiss)")
	case s.msg != "":
		line += s.msg
	case s.running == "":
		line += st.Subtle.Render("ready")
	}
	keys := s.help.ShortHelpView(s.c.Keys.ShortHelp())
	if s.c.ReadOnly {
		keys = st.Badge.Render(" READ-ONLY: actions disabled ") + " " + s.help.ShortHelpView([]keyBinding{s.c.Keys.Next, s.c.Keys.Up, s.c.Keys.Down, s.c.Keys.Filter, s.c.Keys.Help, s.c.Keys.Quit})
	}
	return fit(line+"\n"+keys, s.w, s.h)
}
