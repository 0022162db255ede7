package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// unit is one accepted suffix and its multiplier.
type unit struct {
	name string
	mult float64
}

// sizeUnits are matched case-insensitively, longest first, so "MiB" wins over "B".
var sizeUnits = []unit{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

const sizeHelp = "a number with B, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000), e.g. 512MiB"

var bitUnits = []unit{
	{"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}, {"tbit", 1e12},
	{"kbps", 1e3}, {"mbps", 1e6}, {"gbps", 1e9}, {"tbps", 1e12},
	{"bit", 1}, {"bps", 1},
}

const bitHelp = "a number with bit, kbit, mbit, gbit or tbit (optionally followed by /s; powers of 1000), e.g. 1gbit"

// splitNumber separates a leading decimal number from the unit that follows
// it, allowing spaces in between ("2 GiB").
func splitNumber(s string) (num float64, rest string, ok bool) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	if i == 0 {
		return 0, "", false
	}
	n, err := strconv.ParseFloat(s[:i], 64)
	if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, "", false
	}
	return n, strings.TrimSpace(s[i:]), true
}

// scale finds suffix in units and returns num times its multiplier.
func scale(num float64, suffix string, units []unit) (float64, bool) {
	if suffix == "" {
		return num, true
	}
	for _, u := range units {
		if strings.EqualFold(suffix, u.name) {
			return num * u.mult, true
		}
	}
	return 0, false
}

// toInt converts a scaled value to whole units, refusing fractions and
// values that do not fit in an int64.
func toInt(v float64, s, what, help string) (int64, error) {
	if v != math.Trunc(v) {
		return 0, fmt.Errorf("%s %q is not a whole number of %s; use %s", what, s, wholeOf(what), help)
	}
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("%s %q is too large; use %s", what, s, help)
	}
	return int64(v), nil
}

func wholeOf(what string) string {
	if what == "bit rate" {
		return "bits"
	}
	return "bytes"
}

// ParseSize parses a byte count: "512MiB", "1GiB", "64MB", "4096", "2 GiB".
// A bare number is bytes. Fractions are allowed if the result is whole
// bytes ("1.5GiB").
func ParseSize(s string) (int64, error) {
	num, rest, ok := splitNumber(s)
	if !ok {
		return 0, fmt.Errorf("size %q is not a number with a unit; use %s", s, sizeHelp)
	}
	v, ok := scale(num, rest, sizeUnits)
	if !ok {
		return 0, fmt.Errorf("size %q has unknown unit %q; use %s", s, rest, sizeHelp)
	}
	return toInt(v, s, "size", sizeHelp)
}

// ParseRate parses bytes per second: "32MiB/s", "1GB/s". A bare number is
// bytes per second; a number with a unit needs the "/s".
func ParseRate(s string) (int64, error) {
	const help = "a size per second, e.g. 32MiB/s or 1GB/s (units B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
	num, rest, ok := splitNumber(s)
	if !ok {
		return 0, fmt.Errorf("rate %q is not a number with a unit; use %s", s, help)
	}
	if rest != "" {
		r, found := strings.CutSuffix(rest, "/s")
		if !found {
			return 0, fmt.Errorf("rate %q lacks \"/s\"; use %s", s, help)
		}
		rest = strings.TrimSpace(r)
		if rest == "" {
			return 0, fmt.Errorf("rate %q has no unit before \"/s\"; use %s", s, help)
		}
	}
	v, ok := scale(num, rest, sizeUnits)
	if !ok {
		return 0, fmt.Errorf("rate %q has unknown unit %q; use %s", s, rest, help)
	}
	return toInt(v, s, "rate", help)
}

// ParseBitRate parses a link rate in bits per second, in tc's spelling:
// "1gbit", "100mbit", "10Mbit/s". A bare number is bits per second.
func ParseBitRate(s string) (int64, error) {
	num, rest, ok := splitNumber(s)
	if !ok {
		return 0, fmt.Errorf("bit rate %q is not a number with a unit; use %s", s, bitHelp)
	}
	if r, found := strings.CutSuffix(rest, "/s"); found && r != "" {
		rest = strings.TrimSpace(r)
	}
	v, ok := scale(num, rest, bitUnits)
	if !ok {
		return 0, fmt.Errorf("bit rate %q has unknown unit %q; use %s", s, rest, bitHelp)
	}
	return toInt(v, s, "bit rate", bitHelp)
}

// ParsePercent parses a percentage from 0% to 100% ("25%", "12.5%") and
// returns the number of percent (25, 12.5), not the fraction.
func ParsePercent(s string) (float64, error) {
	const help = "a number from 0 to 100 followed by %, e.g. 25%"
	t := strings.TrimSpace(s)
	body, found := strings.CutSuffix(t, "%")
	if !found {
		return 0, fmt.Errorf("percentage %q lacks \"%%\"; use %s", s, help)
	}
	num, rest, ok := splitNumber(body)
	if !ok || rest != "" {
		return 0, fmt.Errorf("percentage %q is not a number; use %s", s, help)
	}
	if num > 100 {
		return 0, fmt.Errorf("percentage %q is over 100%%; use %s", s, help)
	}
	return num, nil
}
