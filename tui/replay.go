package tui

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"dcres/api"
)

// replayTick is how often the replay bar re-reads the player's position.
const replayTick = 250 * time.Millisecond

// replaySeekStep is how far left/right seek.
const replaySeekStep = 10 * time.Second

// replaySpeeds are the steps of +/-.
var replaySpeeds = []float64{0.25, 0.5, 1, 2, 5, 10, 20, 50, 100}

// replayTickMsg asks the model to redraw the replay bar.
type replayTickMsg struct{}

func replayTickCmd() tea.Cmd {
	return tea.Tick(replayTick, func(time.Time) tea.Msg { return replayTickMsg{} })
}

// replayBar is the one line a replay adds above the status line: position
// of total, a bar, speed, and paused or playing (in words, not only marks).
type replayBar struct {
	c *Common
	p api.Player
	w int
}

func (r *replayBar) SetSize(w, h int) { r.w = w }

func (r *replayBar) View() string {
	s := r.c.Styles
	at, total := r.p.Position()
	state := s.OK.Render("▶ playing")
	if r.p.Paused() {
		state = s.Warn.Render("⏸ PAUSED")
	}
	head := fmt.Sprintf("%s %s / %s ", s.Label.Render("replay"), fmtClock(at), fmtClock(total))
	tail := fmt.Sprintf(" %s  speed %s", state, fmtSpeed(r.p.Speed()))
	bw := clamp(r.w-lipglossWidth(head)-lipglossWidth(tail), 0, 40)
	var frac float64
	if total > 0 {
		frac = float64(at) / float64(total)
	}
	return fitLine(head+bar(s, frac, bw)+tail, r.w)
}

// fmtClock is a replay offset as m:ss (h:mm:ss past an hour).
func fmtClock(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, sec := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, sec)
	}
	return fmt.Sprintf("%d:%02d", m, sec)
}

func fmtSpeed(x float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", x), "0"), ".") + "x"
}

// nextSpeed is the step above (up) or below the current speed.
func nextSpeed(cur float64, up bool) float64 {
	if up {
		for _, v := range replaySpeeds {
			if v > cur+1e-9 {
				return v
			}
		}
		return replaySpeeds[len(replaySpeeds)-1]
	}
	for i := len(replaySpeeds) - 1; i >= 0; i-- {
		if replaySpeeds[i] < cur-1e-9 {
			return replaySpeeds[i]
		}
	}
	return replaySpeeds[0]
}

// replayKey handles the replay keys; it reports whether k was one.
func (m *Model) replayKey(k tea.KeyPressMsg) bool {
	p, keys := m.player, m.c.Keys
	if p == nil {
		return false
	}
	at, total := p.Position()
	switch {
	case keyMatches(k, keys.Pause):
		p.TogglePause()
	case keyMatches(k, keys.Faster):
		p.SetSpeed(nextSpeed(p.Speed(), true))
	case keyMatches(k, keys.Slower):
		p.SetSpeed(nextSpeed(p.Speed(), false))
	case keyMatches(k, keys.Step):
		if !p.Paused() {
			// Stepping is a paused act: pause first, as video players do.
			p.TogglePause()
		}
		p.Step()
	case keyMatches(k, keys.Back):
		p.Seek(max(0, at-replaySeekStep))
	case keyMatches(k, keys.Forward):
		p.Seek(min(total, at+replaySeekStep))
	case keyMatches(k, keys.Start):
		p.Seek(0)
	case keyMatches(k, keys.End):
		p.Seek(total)
	default:
		return false
	}
	return true
}
