package tui

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	tea "charm.land/bubbletea/v2"

	"dcres/api"
)

// maxLogEntries bounds the log's memory in a long session.
const maxLogEntries = 2000

// logEntry is one line of the event log.
type logEntry struct {
	t     time.Time
	level api.Level
	text  string
	shape string // text with digit runs replaced, to spot repeats
	count int    // how many like entries this one stands for (0 = 1)
}

// Repeats: an entry like one of the last repeatWindow entries (same level,
// same text but for numbers) within repeatAge replaces it with a count, so
// a flood (a host dies under a running guest: one error per page) leaves
// the rest of the log readable.
const (
	repeatWindow = 4
	repeatAge    = 30 * time.Second
)

// shapeOf is text with every number replaced by '#': a run of digits that
// does not end a word ("page 70344", "[98528," but not "sub1" or "h2", so
// lines about different hosts stay apart).
func shapeOf(text string) string {
	var b strings.Builder
	inNumber, afterLetter := false, false
	for _, r := range text {
		isDigit := r >= '0' && r <= '9'
		switch {
		case isDigit && (inNumber || !afterLetter):
			if !inNumber {
				b.WriteByte('#')
			}
			inNumber = true
			continue
		case isDigit:
			// part of a word: keep it
		default:
			afterLetter = unicode.IsLetter(r)
		}
		inNumber = false
		b.WriteRune(r)
	}
	return b.String()
}

// eventLog is the timestamped, scrollable, filterable event log.
type eventLog struct {
	c       *Common
	entries []logEntry
	filter  string
	editing bool // the filter line has the keyboard
	scroll  int  // lines up from the newest
	w, h    int
	focused bool
}

func newEventLog(c *Common) *eventLog { return &eventLog{c: c} }

func (l *eventLog) SetSize(w, h int) { l.w, l.h = w, h }

// add appends an entry; t zero means now.
func (l *eventLog) add(t time.Time, level api.Level, text string) {
	if t.IsZero() {
		t = l.c.Now()
	}
	if level == "" {
		level = api.Info
	}
	e := logEntry{t: t, level: level, text: text, shape: shapeOf(text)}
	for i := len(l.entries) - 1; i >= 0 && i >= len(l.entries)-repeatWindow; i-- {
		old := l.entries[i]
		if old.level == level && old.shape == e.shape && t.Sub(old.t) < repeatAge {
			// The newest wording, the newest time, the total count, moved
			// to the end; the operator's scroll position is unchanged.
			e.count = max(old.count, 1) + 1
			l.entries = append(l.entries[:i], l.entries[i+1:]...)
			l.entries = append(l.entries, e)
			return
		}
	}
	l.entries = append(l.entries, e)
	if len(l.entries) > maxLogEntries {
		l.entries = append([]logEntry(nil), l.entries[len(l.entries)-maxLogEntries:]...)
	}
	if l.scroll > 0 {
		// Keep the operator's place while they read older entries.
		l.scroll++
	}
}

// startFilter gives the keyboard to the filter line.
func (l *eventLog) startFilter() { l.editing = true }

func (l *eventLog) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	if l.editing {
		switch k.String() {
		case "enter":
			l.editing = false
		case "esc":
			l.editing = false
			l.filter = ""
		case "backspace":
			if r := []rune(l.filter); len(r) > 0 {
				l.filter = string(r[:len(r)-1])
			}
		default:
			if k.Text != "" {
				l.filter += k.Text
			}
		}
		l.scroll = 0
		return nil
	}
	if !l.focused {
		return nil
	}
	switch {
	case keyMatches(k, l.c.Keys.Up):
		l.scroll++
	case keyMatches(k, l.c.Keys.Down):
		if l.scroll > 0 {
			l.scroll--
		}
	case k.String() == "esc":
		l.filter = ""
		l.scroll = 0
	}
	return nil
}

// visible is the entries that pass the filter.
func (l *eventLog) visible() []logEntry {
	if l.filter == "" {
		return l.entries
	}
	f := strings.ToLower(l.filter)
	var out []logEntry
	for _, e := range l.entries {
		if strings.Contains(strings.ToLower(e.text), f) || strings.Contains(string(e.level), f) {
			out = append(out, e)
		}
	}
	return out
}

func (l *eventLog) View() string {
	s := l.c.Styles
	rows := l.h
	var lines []string
	if l.editing || l.filter != "" {
		cursor := ""
		if l.editing {
			cursor = "█"
		}
		lines = append(lines, s.Warn.Render("filter /")+l.filter+cursor+s.Subtle.Render("  (enter keep, esc clear)"))
		rows--
	}
	vis := l.visible()
	end := len(vis) - l.scroll
	if end < 0 {
		end = 0
	}
	start := end - rows
	if start < 0 {
		start = 0
	}
	for _, e := range vis[start:end] {
		tag := "   "
		st := s.Subtle
		switch e.level {
		case api.Warn:
			tag, st = "WRN", s.Warn
		case api.Error:
			tag, st = "ERR", s.Err
		}
		text := e.text
		if e.count > 1 {
			text = fmt.Sprintf("(×%d) %s", e.count, text)
		}
		if e.level != api.Info {
			text = st.Render(text)
		}
		lines = append(lines, fmt.Sprintf("%s %s %s", s.Subtle.Render(e.t.Format("15:04:05")), st.Render(tag), text))
	}
	if len(vis) == 0 {
		msg := "no events yet"
		if l.filter != "" {
			msg = "no event matches the filter"
		}
		lines = append(lines, s.Subtle.Render(msg))
	}
	return fit(strings.Join(lines, "\n"), l.w, l.h)
}
