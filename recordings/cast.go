package recordings

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"dcres/tui"
)

// FrameInterval is the finest step of rendered frames: at most ten a second,
// like the live console's rate of sample renders.
const FrameInterval = 100 * time.Millisecond

// Render feeds rec's events to a read-only console of w×h cells, the way the
// live console receives them, and calls frame with the screen (ANSI text,
// lines separated by "\n") at the start and at the end of every
// FrameInterval in which it changed. It stops at frame's first error.
func Render(rec *Recording, w, h int, frame func(at time.Duration, screen string) error) error {
	if w < 20 || h < 10 {
		return fmt.Errorf("recording: a console of %dx%d is too small (at least 20x10)", w, h)
	}
	now := rec.Header.Started
	// The player's clock is the rendering's: the replay bar shows where the
	// frame is, whatever the time of the machine that renders it.
	clock := renderClock{now: &now}
	m := tui.New(NewPlayerClock(rec, clock), tui.Options{Title: rec.Header.Profile, ReadOnly: true, Now: clock.Now})
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	last := m.View().Content
	if err := frame(0, last); err != nil {
		return err
	}
	evs := rec.Events
	for i := 0; i < len(evs); {
		end := (evs[i].T/FrameInterval + 1) * FrameInterval
		for ; i < len(evs) && evs[i].T < end; i++ {
			now = rec.Header.Started.Add(evs[i].T)
			m.Update(evs[i].Ev)
		}
		now = rec.Header.Started.Add(end)
		if screen := m.View().Content; screen != last {
			if err := frame(end, screen); err != nil {
				return err
			}
			last = screen
		}
	}
	return nil
}

// castHeader is asciicast v2's first line.
type castHeader struct {
	Version   int               `json:"version"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp int64             `json:"timestamp,omitempty"`
	Title     string            `json:"title,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
}

// ExportCast writes rec's console, rendered at width×height, as an
// asciicast v2 file: a header line, then one [seconds, "o", frame] line per
// changed frame (see Render), each frame redrawing the whole screen.
func ExportCast(rec *Recording, w io.Writer, width, height int) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	hdr := castHeader{Version: 2, Width: width, Height: height, Title: "dcres replay: " + rec.Header.Profile,
		Env: map[string]string{"TERM": "xterm-256color"}}
	if !rec.Header.Started.IsZero() {
		hdr.Timestamp = rec.Header.Started.Unix()
	}
	if err := enc.Encode(hdr); err != nil {
		return err
	}
	first := true
	err := Render(rec, width, height, func(at time.Duration, screen string) error {
		out := "\x1b[H\x1b[2J" + strings.ReplaceAll(screen, "\n", "\r\n")
		if first {
			out = "\x1b[?25l" + out // no cursor over the console
			first = false
		}
		return enc.Encode([]any{at.Seconds(), "o", out})
	})
	if err != nil {
		return fmt.Errorf("recording: export: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("recording: export: %w", err)
	}
	return nil
}

// renderClock is the time of the frame being rendered; its timers never fire
// (Render feeds the events itself).
type renderClock struct{ now *time.Time }

func (c renderClock) Now() time.Time { return *c.now }

func (renderClock) TimerAt(time.Time) (<-chan time.Time, func()) { return nil, func() {} }
