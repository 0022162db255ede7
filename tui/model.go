package tui

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"dcres/api"
)

// Options configure the console.
type Options struct {
	Title    string // profile name
	ReadOnly bool   // disables every action and says so in the header and help
	Input    io.Reader
	Output   io.Writer // default stdin/stdout
	Now      func() time.Time
	// Scenario, when set, runs once the console starts: a profile's
	// scenario over the same Controller (orchestrator.RunScenario). reader
	// is its pause-for-reader hook (orchestrator.Hooks.Reader): the console
	// shows the text and returns when the operator presses enter or space.
	// Action keys wait while it runs; quitting cancels it.
	Scenario func(ctx context.Context, reader func(ctx context.Context, text string) error) error
}

// eventsMsg is a batch of coordinator events, as Run delivers them.
type eventsMsg []api.Event

// Focusable panels, in tab order.
const (
	focusHosts = iota
	focusCheckpoints
	focusLog
	focusCount
)

// Model is the console's root: it routes messages to the components and
// lays them out. It is a tea.Model.
type Model struct {
	ctrl   api.Controller
	opt    Options
	c      *Common
	ctx    context.Context
	cancel context.CancelFunc
	ops    sync.WaitGroup // operations running in commands
	// opsMu guards opsClosed, set when Run stops waiting for new ones.
	opsMu     sync.Mutex
	opsClosed bool

	header *header
	hosts  *hosts
	memmap *memMap
	ckpts  *checkpoints
	log    *eventLog
	status *statusLine
	// player is the Controller as an api.Player when it replays a
	// recording; replay is its bar. Both nil for a live console.
	player api.Player
	replay *replayBar

	focus    int
	modal    *dialog
	showHelp bool
	running  string // the operation this console started, "" when idle
	remoteOp string // an operation started elsewhere, from op-start events
	quitting bool
	// readerCh carries the scenario's pause-for-reader steps to the model;
	// note is the one on screen (waiting for the reader, or replayed).
	readerCh chan readerReq
	note     *readerNote
}

// New builds the console over ctrl. It does not subscribe: Run does, or a
// test feeds api.Event messages to Update.
func New(ctrl api.Controller, opt Options) *Model {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	c := &Common{Styles: NewStyles(true), Keys: DefaultKeyMap(), Now: opt.Now, ReadOnly: opt.ReadOnly, Width: 80, Height: 24}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Model{ctrl: ctrl, opt: opt, c: c, ctx: ctx, cancel: cancel, focus: focusCheckpoints}
	m.header = newHeader(c, opt.Title)
	m.hosts = newHosts(c)
	m.memmap = newMemMap(c)
	m.ckpts = newCheckpoints(c)
	m.log = newEventLog(c)
	m.status = newStatusLine(c)
	m.setFocus(m.focus)
	if opt.Scenario != nil {
		m.readerCh = make(chan readerReq)
	}
	if p, ok := ctrl.(api.Player); ok {
		m.player = p
		m.replay = &replayBar{c: c, p: p}
		c.Replay, c.ReadOnly = true, true
		m.log.add(time.Time{}, api.Info, "replay: space pauses, +/- change speed, . steps, ←/→ seek; actions are disabled")
	} else if opt.ReadOnly {
		m.log.add(time.Time{}, api.Info, "read-only console: checkpoint, restore, verify and delete are disabled")
	}
	return m
}

// Init asks the terminal for its background (for light/dark styles) and the
// coordinator for the checkpoint list.
func (m *Model) Init() tea.Cmd {
	cmds := []tea.Cmd{tea.RequestBackgroundColor, m.listCmd()}
	if m.player != nil {
		cmds = append(cmds, replayTickCmd())
	}
	if m.opt.Scenario != nil && m.player == nil {
		cmds = append(cmds, m.scenarioCmd())
	}
	return tea.Batch(cmds...)
}

func (m *Model) setFocus(f int) {
	m.focus = (f + focusCount) % focusCount
	m.hosts.focused = m.focus == focusHosts
	m.ckpts.focused = m.focus == focusCheckpoints
	m.log.focused = m.focus == focusLog
}

// Update routes a message. It never blocks: operations run in tea.Cmds.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.c.Width, m.c.Height = msg.Width, msg.Height
	case tea.BackgroundColorMsg:
		m.c.Styles = NewStyles(msg.IsDark())
		m.status.Update(msg)
	case eventsMsg:
		for _, ev := range msg {
			m.event(ev)
		}
	case api.Event:
		m.event(msg)
	case opResultMsg:
		return m, m.opResult(msg)
	case planMsg:
		m.planResult(msg)
	case listMsg:
		m.running = clearIf(m.running, "list")
		if msg.err != nil {
			m.fail("listing checkpoints failed: " + msg.err.Error())
		} else {
			m.ckpts.setList(msg.list)
		}
	case readerMsg:
		m.showReader(msg)
	case replayTickMsg:
		// The position moves without events while paused or seeking:
		// redraw the bar on a clock.
		return m, replayTickCmd()
	case tea.KeyPressMsg:
		return m, m.key(msg)
	}
	return m, nil
}

func clearIf(running, op string) string {
	if running == op {
		return ""
	}
	return running
}

// event applies one coordinator event.
func (m *Model) event(ev api.Event) {
	switch ev.Type {
	case api.EvHosts:
		for _, ch := range m.hosts.apply(ev.Hosts) {
			m.log.add(ev.Time, api.Warn, ch)
		}
	case api.EvGuest:
		m.header.Update(ev)
	case api.EvProgress:
		m.hosts.Update(ev)
	case api.EvMemMap:
		m.memmap.Update(ev)
	case api.EvCheckpoints:
		m.ckpts.Update(ev)
	case api.EvLog:
		m.log.add(ev.Time, ev.Level, hostPrefix(ev.Host)+ev.Message)
	case api.EvReader:
		m.log.add(ev.Time, api.Info, "reader: "+ev.Message)
		if m.c.Replay {
			// A recorded pause: show the note until the reader's action.
			m.note = &readerNote{text: ev.Message}
		}
	case api.EvAction:
		m.log.add(ev.Time, ev.Level, ev.Message)
		if m.c.Replay && ev.Op == "pause-for-reader" {
			m.note = nil
		}
	case api.EvOpStart:
		m.hosts.Update(ev)
		m.remoteOp = ev.Op
		m.log.add(ev.Time, api.Info, fmt.Sprintf("%s %s started", ev.Op, ev.ID))
	case api.EvOpDone:
		m.hosts.Update(ev)
		m.ckpts.Update(ev)
		m.remoteOp = ""
		text := opDoneText(ev)
		m.log.add(ev.Time, ev.Level, text)
		if ev.Level == api.Error {
			m.status.fail(text)
		} else {
			m.status.info(text)
		}
	case api.EvPlan:
		if p := ev.Plan; p != nil {
			m.log.add(ev.Time, api.Info, fmt.Sprintf("plan for %s: %d targets, %d links, about %s on the network", p.Checkpoint, len(p.Targets), len(p.Links), fmtSecs(p.Seconds)))
		}
	default:
		if ev.Message != "" {
			m.log.add(ev.Time, ev.Level, ev.Type+": "+ev.Message)
		}
	}
}

// opDoneText is the log line of an op-done event: the coordinator's own
// message when it names the operation (it does: "checkpoint X committed:
// ..."), else the operation, its id and the message.
func opDoneText(ev api.Event) string {
	if ev.Message != "" && strings.Contains(ev.Message, ev.Op) {
		return ev.Message
	}
	text := strings.Join(strings.Fields(ev.Op+" "+ev.ID+" finished"), " ")
	if ev.Message != "" {
		text += ": " + ev.Message
	}
	return text
}

func hostPrefix(h string) string {
	if h == "" {
		return ""
	}
	return h + ": "
}

// fail puts an error in the log and on the status line.
func (m *Model) fail(text string) {
	m.log.add(time.Time{}, api.Error, text)
	m.status.fail(text)
}

func (m *Model) opResult(r opResultMsg) tea.Cmd {
	m.running = ""
	if r.op == "scenario" && m.note != nil && m.note.wait != nil {
		m.note = nil // the scenario ended (cancelled) while a note waited
	}
	if r.err != nil {
		m.fail(r.op + " failed: " + r.err.Error())
	} else {
		// The coordinator logs every operation's end as an op-done event;
		// the console's own summary goes to the status line only, so the
		// log does not say everything twice. A scenario has no op-done: its
		// end is logged here (the status line soon shows its last step's).
		m.status.success(r.text)
		if r.op == "scenario" {
			m.log.add(time.Time{}, api.Info, r.text)
		}
	}
	if m.quitting {
		return tea.Quit
	}
	// The list may have changed (new, deleted or verified checkpoint); the
	// coordinator also says so, but asking costs little and keeps this face
	// right if an event was missed.
	return m.listCmd()
}

func (m *Model) planResult(p planMsg) {
	m.running = ""
	if p.err != nil {
		m.fail("restore plan failed: " + p.err.Error())
		return
	}
	var plan *api.Plan
	if p.res != nil {
		plan = p.res.Plan
	}
	body := planLines(plan)
	state := m.header.state()
	running := state != api.StateStopped && state != "unknown"
	title := fmt.Sprintf("Restore %s with placement %q?", p.from, p.placement)
	if running {
		body = append(body, "", m.c.Styles.Warn.Render(fmt.Sprintf("The guest is %s: the restore replaces it.", state)))
	}
	from, placement := p.from, p.placement
	m.modal = confirm(m.c, title, body, !running, func() tea.Cmd {
		return m.start("restore", from, fmt.Sprintf("restore of %s (%s) requested", from, placement), m.restoreCmd(from, placement))
	})
}

// start marks an operation as running, records the operator's action, and
// returns its command.
func (m *Model) start(op, id, logText string, cmd tea.Cmd) tea.Cmd {
	m.running = op
	m.act(op, id, api.Info, logText)
	m.status.info("")
	return cmd
}

// key handles a key press: the modal first, then the help overlay, the
// filter line, the global keys, and last the focused panel.
func (m *Model) key(k tea.KeyPressMsg) tea.Cmd {
	keys := m.c.Keys
	if m.modal != nil {
		cmd := m.modal.Update(k)
		if m.modal.closed {
			m.modal = nil
		}
		return cmd
	}
	if m.showHelp {
		if keyMatches(k, keys.Help) || keyMatches(k, keys.Cancel) || keyMatches(k, keys.Quit) {
			m.showHelp = false
		}
		return nil
	}
	if m.log.editing {
		return m.log.Update(k)
	}
	if m.note != nil && m.note.wait != nil && (keyMatches(k, keys.Enter) || keyMatches(k, keys.GoOn)) {
		return m.ackReader()
	}
	if m.replayKey(k) {
		return nil
	}
	switch {
	case keyMatches(k, keys.Quit):
		return m.quit()
	case keyMatches(k, keys.Help):
		m.showHelp = true
		return nil
	case keyMatches(k, keys.Filter):
		m.log.startFilter()
		return nil
	case keyMatches(k, keys.Next):
		m.setFocus(m.focus + 1)
		return nil
	case keyMatches(k, keys.Prev):
		m.setFocus(m.focus - 1)
		return nil
	}
	for _, b := range keys.actions() {
		if keyMatches(k, b) {
			return m.action(k)
		}
	}
	if k.String() == "esc" {
		m.status.clearError()
	}
	switch m.focus {
	case focusHosts:
		return m.hosts.Update(k)
	case focusCheckpoints:
		return m.ckpts.Update(k)
	default:
		return m.log.Update(k)
	}
}

func (m *Model) quit() tea.Cmd {
	if m.running == "" || m.running == "list" {
		return tea.Quit
	}
	op := m.running
	m.modal = confirm(m.c, "Quit while "+op+" runs?", []string{
		"Quitting cancels the " + op + ";",
		"the coordinator resumes the guest if it paused it.",
	}, false, func() tea.Cmd {
		m.cancel()
		m.quitting = true
		m.act("quit", "", api.Warn, "quit: cancelling "+op+" and waiting for it to stop")
		return nil
	})
	return nil
}

// action runs one of the operation keys, unless read-only or busy.
func (m *Model) action(k tea.KeyPressMsg) tea.Cmd {
	keys := m.c.Keys
	if m.c.Replay {
		m.status.info(m.c.Styles.Warn.Render("replay: " + k.String() + " is disabled (this is a recording)"))
		return nil
	}
	if m.c.ReadOnly {
		m.status.info(m.c.Styles.Warn.Render("read-only console: " + k.String() + " is disabled"))
		return nil
	}
	if m.running != "" && m.running != "list" {
		m.status.info(m.c.Styles.Warn.Render(m.running + " is running: wait for it to finish"))
		return nil
	}
	sel := m.ckpts.selected()
	switch {
	case keyMatches(k, keys.Checkpoint):
		return m.start("checkpoint", "", "checkpoint (dcres) requested", m.checkpointCmd(api.CheckpointRequest{Method: "dcres"}))
	case keyMatches(k, keys.Live):
		return m.start("checkpoint", "", "live checkpoint (dcres) requested", m.checkpointCmd(api.CheckpointRequest{Method: "dcres", Live: true}))
	case keyMatches(k, keys.Traditional):
		return m.start("checkpoint", "", "traditional checkpoint requested", m.checkpointCmd(api.CheckpointRequest{Method: "traditional"}))
	case keyMatches(k, keys.Verify):
		id := ""
		what := "guest"
		if sel != nil {
			id, what = sel.ID, sel.ID
		}
		return m.start("verify", id, "verify of "+what+" requested", m.verifyCmd(id))
	case keyMatches(k, keys.Restore):
		if sel == nil {
			m.status.info(m.c.Styles.Warn.Render("restore: select a checkpoint first (tab to the list, ↑/↓)"))
			return nil
		}
		from := sel.ID
		opts, labels := m.placements(*sel)
		m.modal = picker(m.c, "Restore "+from+": where to?", []string{"The plan is shown before anything runs."}, opts, labels, func(pl string) tea.Cmd {
			m.running = "restore plan"
			m.act("restore", from, api.Info, "plan of a restore of "+from+" ("+pl+") requested")
			return m.previewCmd(from, pl)
		})
	case keyMatches(k, keys.Delete):
		if sel == nil {
			m.status.info(m.c.Styles.Warn.Render("delete: select a checkpoint first (tab to the list, ↑/↓)"))
			return nil
		}
		id := sel.ID
		m.modal = confirm(m.c, "Delete checkpoint "+id+"?", []string{"Its pieces are removed from every host."}, false, func() tea.Cmd {
			return m.start("delete", id, "delete of "+id+" requested", m.deleteCmd(id))
		})
	}
	return nil
}

// View renders the console.
func (m *Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "dcres " + m.opt.Title
	return v
}
