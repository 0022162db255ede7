package tui

import (
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"dcres/api"
)

// fakePlayer is a Controller that replays: it records the player calls.
type fakePlayer struct {
	*fakeCtrl
	pmu    sync.Mutex
	paused bool
	speed  float64
	at     time.Duration
	total  time.Duration
	steps  int
}

var _ api.Player = (*fakePlayer)(nil)

func newFakePlayer() *fakePlayer {
	return &fakePlayer{fakeCtrl: newFake(), speed: 1, at: 65 * time.Second, total: 5 * time.Minute}
}

func (p *fakePlayer) TogglePause() { p.pmu.Lock(); p.paused = !p.paused; p.pmu.Unlock() }
func (p *fakePlayer) Paused() bool { p.pmu.Lock(); defer p.pmu.Unlock(); return p.paused }
func (p *fakePlayer) SetSpeed(x float64) {
	p.pmu.Lock()
	p.speed = x
	p.pmu.Unlock()
}
func (p *fakePlayer) Speed() float64 { p.pmu.Lock(); defer p.pmu.Unlock(); return p.speed }
func (p *fakePlayer) Step()          { p.pmu.Lock(); p.steps++; p.pmu.Unlock() }
func (p *fakePlayer) Seek(to time.Duration) {
	p.pmu.Lock()
	p.at = to
	p.pmu.Unlock()
}
func (p *fakePlayer) Position() (time.Duration, time.Duration) {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	return p.at, p.total
}

func replayModel(t *testing.T, w, h int) (*Model, *fakePlayer) {
	t.Helper()
	p := newFakePlayer()
	m := New(p, Options{Title: "recording", Now: fixedNow})
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	for _, ev := range scenario() {
		m.Update(ev)
	}
	return m, p
}

func TestReplayBarShowsPositionSpeedAndPause(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {120, 40}} {
		m, p := replayModel(t, sz[0], sz[1])
		f := frame(m)
		checkFrameSize(t, f, sz[0], sz[1])
		for _, want := range []string{"REPLAY", "replay 1:05 / 5:00", "▶ playing", "speed 1x", "space:pause"} {
			if !strings.Contains(f, want) {
				t.Errorf("%dx%d: frame lacks %q:\n%s", sz[0], sz[1], want, f)
			}
		}
		drive(t, m, press(" "))
		if !p.Paused() || !strings.Contains(frame(m), "⏸ PAUSED") {
			t.Errorf("space did not pause:\n%s", frame(m))
		}
		drive(t, m, press(" "))
		if p.Paused() {
			t.Error("space did not resume")
		}
	}
}

func TestReplaySpeedSteps(t *testing.T) {
	m, p := replayModel(t, 120, 40)
	drive(t, m, press("+"), press("+"))
	if p.Speed() != 5 {
		t.Errorf("1x +,+ = %vx, want 5x", p.Speed())
	}
	for i := 0; i < 20; i++ {
		drive(t, m, press("+"))
	}
	if p.Speed() != 100 || !strings.Contains(frame(m), "speed 100x") {
		t.Errorf("speed past the top = %vx, want 100x", p.Speed())
	}
	for i := 0; i < 20; i++ {
		drive(t, m, press("-"))
	}
	if p.Speed() != 0.25 || !strings.Contains(frame(m), "speed 0.25x") {
		t.Errorf("speed past the bottom = %vx, want 0.25x:\n%s", p.Speed(), frame(m))
	}
	if nextSpeed(3, true) != 5 || nextSpeed(3, false) != 2 {
		t.Error("an off-step speed does not go to its neighbours")
	}
}

func TestReplayStepAndSeek(t *testing.T) {
	m, p := replayModel(t, 120, 40)
	drive(t, m, press("."))
	if !p.Paused() || p.steps != 1 {
		t.Errorf(". : paused=%v steps=%d, want paused and 1 step", p.Paused(), p.steps)
	}
	drive(t, m, press("."))
	if !p.Paused() || p.steps != 2 {
		t.Errorf("second . : paused=%v steps=%d", p.Paused(), p.steps)
	}
	seek := func(k tea.KeyPressMsg, want time.Duration) {
		t.Helper()
		drive(t, m, k)
		if at, _ := p.Position(); at != want {
			t.Errorf("after %s at %s, want %s", k.String(), at, want)
		}
	}
	seek(tea.KeyPressMsg{Code: tea.KeyRight}, 75*time.Second)
	seek(tea.KeyPressMsg{Code: tea.KeyLeft}, 65*time.Second)
	seek(press("G"), 5*time.Minute)
	seek(tea.KeyPressMsg{Code: tea.KeyRight}, 5*time.Minute) // not past the end
	seek(press("g"), 0)
	seek(tea.KeyPressMsg{Code: tea.KeyLeft}, 0) // not before the start
	if !strings.Contains(frame(m), "replay 0:00 / 5:00") {
		t.Errorf("bar not at the start:\n%s", frame(m))
	}
}

func TestReplayRefusesActions(t *testing.T) {
	m, p := replayModel(t, 120, 40)
	drive(t, m, press("c"), press("t"), press("v"), press("up"), press("r"), press("d"))
	wantCalls(t, p.fakeCtrl)
	if m.modal != nil {
		t.Error("a dialog opened in a replay")
	}
	if f := frame(m); !strings.Contains(f, "replay: d is disabled") {
		t.Errorf("no refusal on screen:\n%s", f)
	}
	drive(t, m, press("?"))
	f := frame(m)
	for _, want := range []string{"pause / resume", "step one event", "a recording: every action is disabled"} {
		if !strings.Contains(f, want) {
			t.Errorf("help lacks %q:\n%s", want, f)
		}
	}
}

// A live console has no replay bar, and space does nothing.
func TestLiveConsoleHasNoReplayBar(t *testing.T) {
	m, f := scenarioModel(t, 120, 40, Options{})
	drive(t, m, press(" "), press("+"), press("g"))
	wantCalls(t, f)
	if s := frame(m); strings.Contains(s, "replay") || strings.Contains(s, "REPLAY") {
		t.Errorf("replay text in a live console:\n%s", s)
	}
}

func TestFmtClockAndSpeed(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0:00", 65 * time.Second: "1:05", 3725 * time.Second: "1:02:05"} {
		if got := fmtClock(d); got != want {
			t.Errorf("fmtClock(%s) = %q, want %q", d, got, want)
		}
	}
	for x, want := range map[float64]string{0.25: "0.25x", 0.5: "0.5x", 1: "1x", 100: "100x"} {
		if got := fmtSpeed(x); got != want {
			t.Errorf("fmtSpeed(%v) = %q, want %q", x, got, want)
		}
	}
}
