package tui

import (
	"image/color"
	"testing"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
)

// In 16 colours no text style may become the background's own colour:
// white (7, 15) on a light background, black (0) on a dark one.
func TestStylesReadableIn16Colours(t *testing.T) {
	for _, dark := range []bool{true, false} {
		s := NewStyles(dark)
		bad := map[color.Color]bool{}
		if dark {
			bad[lipgloss.Black] = true
		} else {
			bad[lipgloss.White] = true
			bad[lipgloss.BrightWhite] = true
		}
		styles := map[string]lipgloss.Style{"Title": s.Title, "Subtle": s.Subtle, "OK": s.OK, "Warn": s.Warn, "Err": s.Err,
			"Section": s.Section, "BarFull": s.BarFull, "BarEmpty": s.BarEmpty}
		for i := 0; i < 12; i++ {
			styles["host"+string(rune('a'+i))] = s.Host(i)
		}
		for name, st := range styles {
			fg := st.GetForeground()
			if fg == nil {
				continue
			}
			if got := colorprofile.ANSI.Convert(fg); bad[got] {
				t.Errorf("dark=%v: %s becomes %v in 16 colours, the background's colour", dark, name, got)
			}
		}
	}
}
