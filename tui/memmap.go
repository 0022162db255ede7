package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"dcres/api"
)

// memMap draws guest memory as a grid of two-column cells: the home host's
// letter (in its colour) and a mark: '+' dirty, '·' cached on the main host,
// or during a restore the planned target's letter ('=' when it stays).
type memMap struct {
	c    *Common
	m    *api.MemMap
	w, h int
}

func newMemMap(c *Common) *memMap { return &memMap{c: c} }

func (mm *memMap) SetSize(w, h int) { mm.w, mm.h = w, h }

func (mm *memMap) Update(msg tea.Msg) tea.Cmd {
	if ev, ok := msg.(api.Event); ok && ev.Type == api.EvMemMap && ev.MemMap != nil {
		cp := *ev.MemMap
		mm.m = &cp
	}
	return nil
}

// cell is one drawn cell, possibly merged from several reported cells.
type cell struct {
	home, target string
	cached       uint8
	dirty        uint8
}

// cells merges the reported cells so they fit in max drawn cells: the
// majority home, the largest dirty share, the mean cached share.
func (mm *memMap) cells(max int) ([]cell, int) {
	m := mm.m
	n := len(m.Home)
	k := 1
	if max > 0 && n > max {
		k = (n + max - 1) / max
	}
	var out []cell
	for i := 0; i < n; i += k {
		count := map[string]int{}
		tcount := map[string]int{}
		var c cell
		var sumCached int
		j := i
		for ; j < i+k && j < n; j++ {
			count[m.Home[j]]++
			if j < len(m.Target) {
				tcount[m.Target[j]]++
			}
			if j < len(m.Cached) {
				sumCached += int(m.Cached[j])
			}
			if j < len(m.Dirty) && m.Dirty[j] > c.dirty {
				c.dirty = m.Dirty[j]
			}
		}
		c.home = majority(count, m.Home[i:j])
		if len(tcount) > 0 {
			c.target = majority(tcount, m.Target[i:min(j, len(m.Target))])
		}
		c.cached = uint8(sumCached / (j - i))
		out = append(out, c)
	}
	return out, k
}

// majority picks the most frequent value, ties going to the first seen.
func majority(count map[string]int, order []string) string {
	best, bestN := "", -1
	for _, v := range order {
		if count[v] > bestN {
			best, bestN = v, count[v]
		}
	}
	return best
}

func (mm *memMap) View() string {
	s := mm.c.Styles
	if mm.m == nil || len(mm.m.Home) == 0 {
		return fit(s.Subtle.Render("memory map: no map reported yet"), mm.w, mm.h)
	}
	perRow := mm.w / 2
	rows := mm.h - 1
	if rows < 1 {
		rows = 1
	}
	cells, k := mm.cells(perRow * rows)
	restoring := len(mm.m.Target) > 0
	legend := fmt.Sprintf("memory map: %d pages/cell;", mm.m.PagesPerCell*uint64(k))
	if restoring {
		legend += " letter=home, 2nd=restore target ('=' stays)"
	} else {
		legend += " letter=home, + dirty, · cached"
	}
	var hostsLegend []string
	seen := map[string]bool{}
	for _, c := range cells {
		for _, h := range []string{c.home, c.target} {
			if h != "" && !seen[h] {
				seen[h] = true
				hostsLegend = append(hostsLegend, s.Host(mm.c.HostIndex(h)).Render(fmt.Sprintf("%c=%s", mm.c.HostLetter(h), h)))
			}
		}
	}
	var b strings.Builder
	b.WriteString(s.Subtle.Render(legend) + " " + strings.Join(hostsLegend, " "))
	for i, c := range cells {
		if i%perRow == 0 {
			b.WriteString("\n")
		}
		letter := string(mm.c.HostLetter(c.home))
		mark := " "
		switch {
		case restoring:
			mark = "="
			if c.target != c.home {
				mark = string(mm.c.HostLetter(c.target))
			}
		case c.dirty > 0:
			mark = "+"
		case c.cached >= 50:
			mark = "·"
		}
		st := s.Host(mm.c.HostIndex(c.home))
		if c.dirty > 0 && !restoring {
			st = st.Bold(true)
		}
		if restoring && c.target != c.home {
			b.WriteString(st.Render(letter) + s.Host(mm.c.HostIndex(c.target)).Render(mark))
		} else {
			b.WriteString(st.Render(letter + mark))
		}
	}
	return fit(b.String(), mm.w, mm.h)
}
