package tui

import (
	"context"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"dcres/api"
)

// A profile's scenario runs under the console through Options.Scenario: the
// console hands it readerHook (orchestrator.Hooks.Reader), which shows a
// pause-for-reader step's text in a note above the status line and returns
// when the operator presses enter or space. The scenario itself (its
// checkpoints, restores, verifies) goes through the Controller, as in
// `dcres run`; the console only shows its events.

// readerReq is one pause-for-reader the scenario waits on.
type readerReq struct {
	text string
	done chan struct{} // closed when the reader goes on
}

// readerMsg delivers a readerReq to the model.
type readerMsg readerReq

// readerHook is the scenario's Reader hook: it shows text and waits for
// the reader's key, or ctx's end.
func (m *Model) readerHook(ctx context.Context, text string) error {
	req := readerReq{text: text, done: make(chan struct{})}
	select {
	case m.readerCh <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-req.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitReaderCmd waits for the scenario's next pause-for-reader. It is not
// an operation (it never calls the Controller): the console's end ends it.
func (m *Model) waitReaderCmd() tea.Cmd {
	ctx, ch := m.ctx, m.readerCh
	return func() tea.Msg {
		select {
		case req := <-ch:
			return readerMsg(req)
		case <-ctx.Done():
			return nil
		}
	}
}

// scenarioCmd runs Options.Scenario as the console's running operation:
// action keys wait for it, and quitting cancels it.
func (m *Model) scenarioCmd() tea.Cmd {
	m.running = "scenario"
	m.log.add(time.Time{}, api.Info, "scenario started: the lab's steps run; notes for the reader wait for enter or space")
	run := m.opCmd(func(ctx context.Context) tea.Msg {
		if err := m.opt.Scenario(ctx, m.readerHook); err != nil {
			return opResultMsg{op: "scenario", err: err}
		}
		return opResultMsg{op: "scenario", text: "scenario done: every step ran; the console is yours"}
	})
	return tea.Batch(run, m.waitReaderCmd())
}

// readerNote is the note shown: the text, and whether a scenario waits on
// the reader (a live console) or it was recorded (a replay).
type readerNote struct {
	text string
	wait *readerReq
}

// showReader puts a waiting pause-for-reader on screen.
func (m *Model) showReader(r readerMsg) {
	req := readerReq(r)
	m.note = &readerNote{text: req.text, wait: &req}
	m.status.info(m.c.Styles.Label.Render("reader: press enter or space to go on"))
}

// ackReader lets the scenario go on, and says so in the recording.
func (m *Model) ackReader() tea.Cmd {
	n := m.note
	m.note = nil
	close(n.wait.done)
	m.act("pause-for-reader", "", api.Info, "pause-for-reader: went on after "+quoteShort(n.text, 48))
	m.status.info("")
	// Listen for the scenario's next pause.
	return m.waitReaderCmd()
}

// quoteShort quotes the start of s, cut at n runes.
func quoteShort(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return `"` + s + `"`
}

// emitter is a Controller that publishes its faces' events to every
// subscriber and recording (orchestrator.Session).
type emitter interface{ Emit(api.Event) }

// act is an operator action: it is published as an api.EvAction event when
// the Controller is an emitter, so recordings keep it (its log line then
// comes back with the event), else logged here. A replay never acts.
func (m *Model) act(op, id string, level api.Level, text string) {
	if e, ok := m.ctrl.(emitter); ok && !m.c.Replay {
		e.Emit(api.Event{Time: m.c.Now(), Type: api.EvAction, Level: level, Op: op, ID: id, Message: text})
		return
	}
	m.log.add(time.Time{}, level, text)
}

// noteView is the reader's note, boxed, w wide and at most h high.
func (m *Model) noteView(w, h int) string {
	s := m.c.Styles
	hint := s.Subtle.Render("enter or space: go on (the scenario waits)")
	if m.note.wait == nil {
		hint = s.Subtle.Render("recorded note: the scenario waited here for the reader")
	}
	body := s.Label.Render("For the reader") + "\n" + m.note.text + "\n" + hint
	box := s.Dialog.Width(w).Render(body)
	lines := strings.Split(box, "\n")
	if len(lines) > h {
		lines = lines[len(lines)-h:]
	}
	return fit(strings.Join(lines, "\n"), w, len(lines))
}
