package tui

import (
	"image/color"

	"charm.land/lipgloss/v2"
)

// Styles are the console's looks. Colours are ANSI palette indices or
// 256-colour indices chosen per background (light/dark), so they survive
// downsampling to 256 and 16 colours; every state is also spelled in text.
type Styles struct {
	IsDark   bool
	Title    lipgloss.Style
	Label    lipgloss.Style
	Subtle   lipgloss.Style
	OK       lipgloss.Style
	Warn     lipgloss.Style
	Err      lipgloss.Style
	Badge    lipgloss.Style
	Focused  lipgloss.Style // section title when focused
	Section  lipgloss.Style // section title when not focused
	Selected lipgloss.Style
	Panel    lipgloss.Style
	PanelOff lipgloss.Style // panel of a disconnected host
	Dialog   lipgloss.Style
	BarFull  lipgloss.Style
	BarEmpty lipgloss.Style
	hosts    []color.Color
}

// NewStyles builds the styles for a dark or light background.
func NewStyles(isDark bool) Styles {
	ld := lipgloss.LightDark(isDark)
	// Subtle grey: 240 on light, which 16-colour terminals get as bright
	// black (8); 244 would become white (7), invisible on a white background.
	subtle := ld(lipgloss.Color("240"), lipgloss.Color("245"))
	accent := ld(lipgloss.Color("4"), lipgloss.Color("12"))
	green := ld(lipgloss.Color("2"), lipgloss.Color("10"))
	yellow := ld(lipgloss.Color("3"), lipgloss.Color("11"))
	red := ld(lipgloss.Color("1"), lipgloss.Color("9"))
	s := Styles{IsDark: isDark}
	s.Title = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.Label = lipgloss.NewStyle().Bold(true)
	s.Subtle = lipgloss.NewStyle().Foreground(subtle)
	s.OK = lipgloss.NewStyle().Foreground(green)
	s.Warn = lipgloss.NewStyle().Foreground(yellow).Bold(true)
	s.Err = lipgloss.NewStyle().Foreground(red).Bold(true)
	s.Badge = lipgloss.NewStyle().Reverse(true).Bold(true)
	s.Focused = lipgloss.NewStyle().Bold(true).Reverse(true)
	s.Section = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.Selected = lipgloss.NewStyle().Reverse(true)
	s.Panel = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(subtle)
	s.PanelOff = lipgloss.NewStyle().Border(lipgloss.DoubleBorder()).BorderForeground(red)
	s.Dialog = lipgloss.NewStyle().Border(lipgloss.ThickBorder()).BorderForeground(accent).Padding(0, 1)
	s.BarFull = lipgloss.NewStyle().Foreground(accent)
	s.BarEmpty = lipgloss.NewStyle().Foreground(subtle)
	// Host colours: the 16-colour palette's distinct hues, darker ones on a
	// light background.
	if isDark {
		for _, c := range []string{"12", "10", "11", "13", "14", "9", "4", "2", "3", "5", "6", "1"} {
			s.hosts = append(s.hosts, lipgloss.Color(c))
		}
	} else {
		for _, c := range []string{"4", "2", "3", "5", "6", "1", "12", "10", "11", "13", "14", "9"} {
			s.hosts = append(s.hosts, lipgloss.Color(c))
		}
	}
	return s
}

// Host is the style of the host with the given stable index.
func (s Styles) Host(i int) lipgloss.Style {
	return lipgloss.NewStyle().Foreground(s.hosts[i%len(s.hosts)])
}
