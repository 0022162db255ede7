package tui

import (
	"context"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"dcres/api"
)

// opResultMsg is the end of an operation the console started.
type opResultMsg struct {
	op   string // "checkpoint", "restore", "verify", "delete"
	text string // what to log on success
	err  error
}

// planMsg is the answer to a restore plan preview.
type planMsg struct {
	from, placement string
	res             *api.RestoreResult
	err             error
}

// listMsg is a fresh checkpoint list.
type listMsg struct {
	list []api.CheckpointInfo
	err  error
}

// opCmd wraps an operation so Run can wait for it: no call into the
// Controller outlives the console. The operation is counted when it starts,
// not when it is made: the program may quit before it runs a command (q
// read before Init's list), and a command that never runs must not be
// waited for.
func (m *Model) opCmd(fn func(ctx context.Context) tea.Msg) tea.Cmd {
	ctx := m.ctx
	return func() tea.Msg {
		if !m.beginOp() {
			return nil
		}
		defer m.ops.Done()
		return fn(ctx)
	}
}

// beginOp counts a starting operation, unless the console is closing.
func (m *Model) beginOp() bool {
	m.opsMu.Lock()
	defer m.opsMu.Unlock()
	if m.opsClosed {
		return false
	}
	m.ops.Add(1)
	return true
}

// waitOps refuses new operations and waits for the running ones.
func (m *Model) waitOps() {
	m.opsMu.Lock()
	m.opsClosed = true
	m.opsMu.Unlock()
	m.ops.Wait()
}

func (m *Model) checkpointCmd(req api.CheckpointRequest) tea.Cmd {
	return m.opCmd(func(ctx context.Context) tea.Msg {
		res, err := m.ctrl.Checkpoint(ctx, req)
		if err != nil {
			return opResultMsg{op: "checkpoint", err: err}
		}
		return opResultMsg{op: "checkpoint", text: fmt.Sprintf("checkpoint %s done (%s%s): %s saved in %s, pause %s, %s over the network",
			res.ID, res.Method, liveText(res.Live), fmtBytes(res.BytesSaved), fmtSecs(res.Seconds), fmtSecs(res.PauseSeconds), fmtBytes(res.BytesOverNetwork))}
	})
}

func liveText(live bool) string {
	if live {
		return ", live"
	}
	return ""
}

func (m *Model) previewCmd(from, placement string) tea.Cmd {
	return m.opCmd(func(ctx context.Context) tea.Msg {
		res, err := m.ctrl.Restore(ctx, api.RestoreRequest{From: from, Placement: placement, PlanOnly: true})
		return planMsg{from: from, placement: placement, res: res, err: err}
	})
}

func (m *Model) restoreCmd(from, placement string) tea.Cmd {
	return m.opCmd(func(ctx context.Context) tea.Msg {
		res, err := m.ctrl.Restore(ctx, api.RestoreRequest{From: from, Placement: placement})
		if err != nil {
			return opResultMsg{op: "restore", err: err}
		}
		return opResultMsg{op: "restore", text: fmt.Sprintf("restore of %s (%s) done in %s, %s over the network",
			from, res.Placement, fmtSecs(res.Seconds), fmtBytes(res.BytesOverNetwork))}
	})
}

func (m *Model) verifyCmd(id string) tea.Cmd {
	return m.opCmd(func(ctx context.Context) tea.Msg {
		res, err := m.ctrl.Verify(ctx, id)
		what := "guest"
		if id != "" {
			what = id
		}
		if err != nil {
			return opResultMsg{op: "verify", err: err}
		}
		if res.Errors > 0 {
			return opResultMsg{op: "verify", err: fmt.Errorf("verify %s: %d of %d pages bad: %s", what, res.Errors, res.Pages, strings.Join(res.Faults, "; "))}
		}
		return opResultMsg{op: "verify", text: fmt.Sprintf("verify %s ok: %d pages, 0 errors", what, res.Pages)}
	})
}

func (m *Model) deleteCmd(id string) tea.Cmd {
	return m.opCmd(func(ctx context.Context) tea.Msg {
		if err := m.ctrl.Delete(ctx, id); err != nil {
			return opResultMsg{op: "delete", err: err}
		}
		return opResultMsg{op: "delete", text: "deleted checkpoint " + id}
	})
}

func (m *Model) listCmd() tea.Cmd {
	return m.opCmd(func(ctx context.Context) tea.Msg {
		list, err := m.ctrl.List(ctx)
		return listMsg{list: list, err: err}
	})
}

// placements are the restore choices for a checkpoint: as it was, each
// known host alone, and spread evenly over the hosts with shares.
func (m *Model) placements(ci api.CheckpointInfo) (opts, labels []string) {
	opts = append(opts, "same")
	labels = append(labels, "same: as checkpointed ("+strings.Join(ci.Hosts, ", ")+")")
	seen := map[string]bool{}
	var names []string
	for _, h := range m.hosts.order {
		if !seen[h] {
			seen[h] = true
			names = append(names, h)
		}
	}
	for _, h := range ci.Hosts {
		if !seen[h] {
			seen[h] = true
			names = append(names, h)
		}
	}
	for _, h := range names {
		opts = append(opts, "single:"+h)
		labels = append(labels, "single host: "+h+" (a normal, unsplit VM)")
	}
	if len(ci.Hosts) > 1 {
		spec := evenSpread(ci.Hosts)
		opts = append(opts, spec)
		labels = append(labels, "spread evenly: "+spec)
	}
	// The hosts up now, when they are not the checkpoint's: after a host
	// failed, or to split an image saved on one host.
	var up []string
	for _, h := range m.hosts.order {
		if m.hosts.byName[h].stats.Connected {
			up = append(up, h)
		}
	}
	if len(up) > 1 && strings.Join(up, ",") != strings.Join(ci.Hosts, ",") {
		spec := evenSpread(up)
		opts = append(opts, spec)
		labels = append(labels, "spread evenly over the hosts up: "+spec)
	}
	return opts, labels
}

// evenSpread is a placement of equal shares over hosts, in whole percent.
func evenSpread(hosts []string) string {
	n := len(hosts)
	var parts []string
	for i, h := range hosts {
		p := 100 / n
		if i < 100%n {
			p++
		}
		parts = append(parts, fmt.Sprintf("%s=%d%%", h, p))
	}
	return strings.Join(parts, ",")
}

// planLines describes a plan for the preview dialog.
func planLines(p *api.Plan) []string {
	if p == nil {
		return []string{"(the coordinator returned no plan)"}
	}
	lines := []string{fmt.Sprintf("expected network time %s", fmtSecs(p.Seconds)), "target     pages      local      pull"}
	for _, t := range p.Targets {
		lines = append(lines, fmt.Sprintf("%-10.10s %-10d %-10s %s", t.Host, t.Pages, fmtBytes(t.LocalBytes), fmtBytes(t.PullBytes)))
	}
	for _, l := range p.Links {
		lines = append(lines, fmt.Sprintf("  %s → %s  %s", l.From, l.To, fmtBytes(l.Bytes)))
	}
	return lines
}
