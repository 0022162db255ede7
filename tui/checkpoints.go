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
}

func newCheckpoints(c *Common) *checkpoints { return &checkpoints{c: c, sel: -1} }

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
		if msg.Type == api.EvCheckpoints {
			cl.setList(msg.Checkpoints)
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
}

func (cl *checkpoints) columns() []column {
	now := cl.c.Now()
	return []column{
		{"id", 14, 0, func(ci api.CheckpointInfo) string { return ci.ID }},
		{"time", 8, 0, func(ci api.CheckpointInfo) string {
			if ci.Created.IsZero() {
				return "-"
			}
			if now.Sub(ci.Created) > 20*60*60e9 {
				return ci.Created.Format("Jan 02")
			}
			return ci.Created.Format("15:04:05")
		}},
		{"method", 11, 0, func(ci api.CheckpointInfo) string { return ci.Method }},
		{"live", 4, 1, func(ci api.CheckpointInfo) string { return yesNo(ci.Live) }},
		{"parent", 12, 3, func(ci api.CheckpointInfo) string { return dash(ci.Parent) }},
		{"size", 8, 0, func(ci api.CheckpointInfo) string { return fmtBytes(ci.Bytes) }},
		{"dur", 6, 2, func(ci api.CheckpointInfo) string { return fmtSecs(ci.Seconds) }},
		{"pause", 6, 0, func(ci api.CheckpointInfo) string { return fmtSecs(ci.PauseSeconds) }},
		{"hosts", 16, 3, func(ci api.CheckpointInfo) string {
			return fmt.Sprintf("%d:%s", len(ci.Hosts), strings.Join(ci.Hosts, ","))
		}},
		{"verify", 10, 0, func(ci api.CheckpointInfo) string { return dash(ci.Verify) }},
	}
}

// fitColumns drops the most droppable columns until the rest fit in w.
func fitColumns(cols []column, w int) []column {
	for rank := 3; rank > 0; rank-- {
		total := 0
		for _, c := range cols {
			total += c.width + 1
		}
		if total <= w {
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
		ci := cl.list[i]
		var cells []string
		for _, c := range cols {
			v := c.value(ci)
			if len([]rune(v)) > c.width {
				v = string([]rune(v)[:c.width-1]) + "…"
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
