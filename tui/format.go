package tui

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// fmtBytes renders a byte count in binary units.
func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= unit
		if f < unit || u == "TiB" {
			if f < 10 {
				return fmt.Sprintf("%.1f %s", f, u)
			}
			return fmt.Sprintf("%.0f %s", f, u)
		}
	}
	return fmt.Sprintf("%d B", n)
}

// fmtRate renders bytes per second.
func fmtRate(r float64) string {
	if r <= 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return "0 B/s"
	}
	return fmtBytes(int64(r)) + "/s"
}

// fmtCount renders a per-second count compactly (1.2k, 34M).
func fmtCount(f float64) string {
	switch {
	case f >= 1e6:
		return fmt.Sprintf("%.1fM", f/1e6)
	case f >= 1e4:
		return fmt.Sprintf("%.0fk", f/1e3)
	case f >= 1e3:
		return fmt.Sprintf("%.1fk", f/1e3)
	default:
		return fmt.Sprintf("%.0f", f)
	}
}

// fmtDur renders a duration for people: 450ms, 12.3s, 3m04s, 1h02m.
func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// fmtSecs renders float seconds as a duration.
func fmtSecs(s float64) string {
	return fmtDur(time.Duration(s * float64(time.Second)))
}

// bar draws a bar of w cells for frac in [0,1]: full cells, then empty
// ones. The figure next to it carries the value in text, so the bar is
// readable in any colour profile.
func bar(s Styles, frac float64, w int) string {
	if w <= 0 {
		return ""
	}
	if math.IsNaN(frac) || frac < 0 {
		frac = 0
	}
	if frac > 1 {
		frac = 1
	}
	n := int(math.Round(frac * float64(w)))
	return s.BarFull.Render(strings.Repeat("█", n)) + s.BarEmpty.Render(strings.Repeat("░", w-n))
}

// sparkline draws the last w samples scaled to their maximum.
func sparkline(samples []float64, w int) string {
	if w <= 0 {
		return ""
	}
	if len(samples) > w {
		samples = samples[len(samples)-w:]
	}
	const ticks = "▁▂▃▄▅▆▇█"
	runes := []rune(ticks)
	max := 0.0
	for _, v := range samples {
		max = math.Max(max, v)
	}
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", w-len(samples)))
	for _, v := range samples {
		i := 0
		if max > 0 {
			i = int(v / max * float64(len(runes)-1))
		}
		b.WriteRune(runes[i])
	}
	return b.String()
}

// frac is a/b, 0 when b is not positive.
func frac(a, b int64) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}
