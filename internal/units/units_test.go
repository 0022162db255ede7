package units

import (
	"math"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	good := []struct {
		in   string
		want int64
	}{
		{"512MiB", 512 << 20}, {"1GiB", 1 << 30}, {"64MB", 64e6}, {"4096", 4096},
		{"2 GiB", 2 << 30}, {"1.5GiB", 3 << 29}, {"16mib", 16 << 20}, {"4K", 4096},
		{"0", 0}, {"10B", 10}, {" 1 TiB ", 1 << 40},
	}
	for _, c := range good {
		got, err := ParseSize(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, want string }{
		{"", "not a number"}, {"MiB", "not a number"}, {"-5MiB", "not a number"},
		{"12 parsecs", `unknown unit "parsecs"`}, {"1.5B", "whole number"},
		{"99999999999TiB", "too large"}, {"1..2MiB", "not a number"},
	}
	for _, c := range bad {
		_, err := ParseSize(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "MiB") {
			t.Errorf("ParseSize(%q) error = %v; want one containing %q and the units", c.in, err, c.want)
		}
	}
}

func TestParseRate(t *testing.T) {
	good := map[string]int64{"32MiB/s": 32 << 20, "1GB/s": 1e9, "100": 100, "2 KiB/s": 2048}
	for in, want := range good {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	bad := map[string]string{"32MiB": `lacks "/s"`, "/s": "not a number", "5/s": "no unit", "3furlong/s": "unknown unit"}
	for in, want := range bad {
		if _, err := ParseRate(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRate(%q) error = %v; want %q", in, err, want)
		}
	}
}

func TestParseBitRate(t *testing.T) {
	good := map[string]int64{"1gbit": 1e9, "100mbit": 100e6, "10Mbit/s": 10e6, "64kbit": 64e3, "1000": 1000, "2.5gbit": 2.5e9}
	for in, want := range good {
		if got, err := ParseBitRate(in); err != nil || got != want {
			t.Errorf("ParseBitRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	bad := map[string]string{"1GiB": "unknown unit", "fast": "not a number", "0.5bit": "whole number"}
	for in, want := range bad {
		_, err := ParseBitRate(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "gbit") {
			t.Errorf("ParseBitRate(%q) error = %v; want %q", in, err, want)
		}
	}
}

func TestParsePercent(t *testing.T) {
	good := map[string]float64{"25%": 25, "12.5%": 12.5, "0%": 0, "100%": 100, " 50 %": 50}
	for in, want := range good {
		if got, err := ParsePercent(in); err != nil || got != want {
			t.Errorf("ParsePercent(%q) = %g, %v; want %g", in, got, err, want)
		}
	}
	bad := map[string]string{"25": `lacks "%"`, "abc%": "not a number", "101%": "over 100%", "-3%": "not a number", "5x%": "not a number"}
	for in, want := range bad {
		if _, err := ParsePercent(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePercent(%q) error = %v; want %q", in, err, want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	cases := map[int64]string{
		512 << 20: "512 MiB", 0: "0 B", 100: "100 B", 1024: "1 KiB", 3 << 29: "1.5 GiB",
		-2048: "-2 KiB", math.MaxInt64: "8.0 EiB", 1 << 40: "1 TiB",
	}
	for in, want := range cases {
		if got := FormatBytes(in); got != want {
			t.Errorf("FormatBytes(%d) = %q; want %q", in, got, want)
		}
	}
	// Whole values must read back exactly.
	for _, n := range []int64{512 << 20, 7 << 30, 4096} {
		if back, err := ParseSize(strings.ReplaceAll(FormatBytes(n), " ", "")); err != nil || back != n {
			t.Errorf("round trip of %d: %d, %v", n, back, err)
		}
	}
}

func TestFormatRate(t *testing.T) {
	cases := map[float64]string{32 << 20: "32.0 MiB/s", 512: "512.0 B/s", 1.5 * (1 << 30): "1.5 GiB/s", 0: "0.0 B/s", -2048: "-2.0 KiB/s"}
	for in, want := range cases {
		if got := FormatRate(in); got != want {
			t.Errorf("FormatRate(%g) = %q; want %q", in, got, want)
		}
	}
}
