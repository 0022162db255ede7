package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"dcres/api"
)

// checkpoints lists the committed checkpoints, newest last as the
// coordinator reports them, with a selection the actions apply to.
// Nothing is selected until the operator moves onto the list, so `v`
// verifies the guest by default.
type checkpoints struct {
	c       *Common
	list    []api.CheckpointInfo
	sel     int // -1: none
	w, h    int
	focused bool
	// timings are the durations of checkpoints this console saw finish,
	// for list entries that carry none.
	timings map[string]api.CheckpointResult
}

func newCheckpoints(c *Common) *checkpoints {
	return &checkpoints{c: c, sel: -1, timings: map[string]api.CheckpointResult{}}
}

// noteResult keeps a finished checkpoint's timings.
func (cl *checkpoints) noteResult(r *api.CheckpointResult) {
	if r != nil && r.ID != "" {
		cl.timings[r.ID] = *r
	}
}

// withTimings fills an entry's zero durations from a result seen here.
func (cl *checkpoints) withTimings(ci api.CheckpointInfo) api.CheckpointInfo {
	if r, ok := cl.timings[ci.ID]; ok && ci.Seconds == 0 && ci.PauseSeconds == 0 {
		ci.Seconds, ci.PauseSeconds = r.Seconds, r.PauseSeconds
	}
	return ci
}

func (cl *checkpoints) SetSize(w, h int) { cl.w, cl.h = w, h }

// selected is the selected checkpoint, nil when none is.
func (cl *checkpoints) selected() *api.CheckpointInfo {
	if cl.sel < 0 || cl.sel >= len(cl.list) {
		return nil
	}
	return &cl.list[cl.sel]
}

// setList replaces the list, keeping the selection on the same id.
func (cl *checkpoints) setList(list []api.CheckpointInfo) {
	var keep string
	if s := cl.selected(); s != nil {
		keep = s.ID
	}
	cl.list = append([]api.CheckpointInfo(nil), list...)
	cl.sel = -1
	for i := range cl.list {
		if cl.list[i].ID == keep {
			cl.sel = i
		}
	}
}

func (cl *checkpoints) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case api.Event:
		switch msg.Type {
		case api.EvCheckpoints:
			cl.setList(msg.Checkpoints)
		case api.EvOpDone:
			cl.noteResult(msg.Checkpoint)
		}
	case tea.KeyPressMsg:
		if !cl.focused || len(cl.list) == 0 {
			return nil
		}
		switch {
		case keyMatches(msg, cl.c.Keys.Up):
			if cl.sel < 0 {
				cl.sel = len(cl.list) - 1
			} else if cl.sel > 0 {
				cl.sel--
			}
		case keyMatches(msg, cl.c.Keys.Down):
			if cl.sel < 0 {
				cl.sel = len(cl.list) - 1
			} else if cl.sel < len(cl.list)-1 {
				cl.sel++
			}
		case msg.String() == "esc":
			cl.sel = -1
		}
	}
	return nil
}

// column is one column of the list: its heading, width and value; columns
// with a higher drop rank go first when the console is narrow.
type column struct {
	name  string
	width int
	drop  int
	value func(ci api.CheckpointInfo) string
	// middle cuts a long value in the middle: ids differ at their ends.
	middle bool
}

func (cl *checkpoints) columns() []column {
	now := cl.c.Now()
	// The id column is as wide as the longest id, between 14 and 30: the
	// coordinator's ids ("traditional-20250301T100000-2") are long, and
	// wide terminals can show them whole.
	idW := 14
	for _, ci := range cl.list {
		idW = clamp(len([]rune(ci.ID)), idW, 30)
	}
	return []column{
		{name: "id", width: idW, value: func(ci api.CheckpointInfo) string { return ci.ID }, middle: true},
		{name: "time", width: 8, drop: 0, value: func(ci api.CheckpointInfo) string {
			if ci.Created.IsZero() {
				return "-"
			}
			if now.Sub(ci.Created) > 20*60*60e9 {
				return ci.Created.Format("Jan 02")
			}
			return ci.Created.Format("15:04:05")
		}},
		{name: "method", width: 11, drop: 0, value: func(ci api.CheckpointInfo) string { return ci.Method }},
		{name: "live", width: 4, drop: 1, value: func(ci api.CheckpointInfo) string { return yesNo(ci.Live) }},
		{name: "parent", width: 12, drop: 3, value: func(ci api.CheckpointInfo) string { return dash(ci.Parent) }},
		{name: "size", width: 8, drop: 0, value: func(ci api.CheckpointInfo) string { return fmtBytes(ci.Bytes) }},
		{name: "dur", width: 6, drop: 2, value: func(ci api.CheckpointInfo) string { return secsOrDash(ci.Seconds) }},
		{name: "pause", width: 6, drop: 0, value: func(ci api.CheckpointInfo) string { return secsOrDash(ci.PauseSeconds) }},
		{name: "hosts", width: 16, drop: 3, value: func(ci api.CheckpointInfo) string {
			return fmt.Sprintf("%d:%s", len(ci.Hosts), strings.Join(ci.Hosts, ","))
		}},
		{name: "verify", width: 10, drop: 0, value: func(ci api.CheckpointInfo) string { return dash(ci.Verify) }},
	}
}

// secsOrDash spells an unknown (zero) duration as "-": no checkpoint takes
// no time, so zero means the coordinator did not say.
func secsOrDash(s float64) string {
	if s <= 0 {
		return "-"
	}
	return fmtSecs(s)
}

// fitColumns drops the most droppable columns until the rest fit in w; if
// they still do not, the first (id) column gives up width, down to 14.
func fitColumns(cols []column, w int) []column {
	cols = dropColumns(cols, w)
	if over := columnsWidth(cols) - w; over > 0 && len(cols) > 0 {
		cols[0].width = max(14, cols[0].width-over)
	}
	return cols
}

func columnsWidth(cols []column) int {
	total := 0
	for _, c := range cols {
		total += c.width + 1
	}
	return total
}

func dropColumns(cols []column, w int) []column {
	for rank := 3; rank > 0; rank-- {
		if columnsWidth(cols) <= w {
			return cols
		}
		var kept []column
		for _, c := range cols {
			if c.drop != rank {
				kept = append(kept, c)
			}
		}
		cols = kept
	}
	return cols
}

func (cl *checkpoints) View() string {
	s := cl.c.Styles
	cols := fitColumns(cl.columns(), cl.w-2)
	// The last column (verify) takes what is left: failures need words.
	used := 0
	for _, c := range cols {
		used += c.width + 1
	}
	if rest := cl.w - 2 - used; rest > 0 {
		cols[len(cols)-1].width += rest
	}
	var head []string
	for _, c := range cols {
		head = append(head, fmt.Sprintf("%-*s", c.width, c.name))
	}
	lines := []string{s.Subtle.Render("  " + strings.Join(head, " "))}
	if len(cl.list) == 0 {
		lines = append(lines, s.Subtle.Render("  no checkpoints yet: press c to take one"))
		return fit(strings.Join(lines, "\n"), cl.w, cl.h)
	}
	// Keep the selection visible: scroll so it is on screen, else show the
	// newest entries.
	rows := cl.h - 1
	if rows < 1 {
		rows = 1
	}
	end := len(cl.list)
	if cl.sel >= 0 && cl.sel < end-rows {
		end = cl.sel + rows
	}
	start := end - rows
	if start < 0 {
		start = 0
	}
	for i := start; i < end; i++ {
		ci := cl.withTimings(cl.list[i])
		var cells []string
		for _, c := range cols {
			v := c.value(ci)
			if r := []rune(v); len(r) > c.width {
				if c.middle {
					head := (c.width - 1) / 2
					v = string(r[:head]) + "…" + string(r[len(r)-(c.width-1-head):])
				} else {
					v = string(r[:c.width-1]) + "…"
				}
			}
			cells = append(cells, fmt.Sprintf("%-*s", c.width, v))
		}
		row := strings.Join(cells, " ")
		switch {
		case i == cl.sel:
			row = s.Selected.Render("> " + row)
		case strings.HasPrefix(ci.Verify, "failed"):
			row = "  " + s.Err.Render(row)
		default:
			row = "  " + row
		}
		lines = append(lines, row)
	}
	return fit(strings.Join(lines, "\n"), cl.w, cl.h)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
