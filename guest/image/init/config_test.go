package main

import (
	"testing"

	"dcres/guest/image"
)

func TestParseCmdline(t *testing.T) {
	c, err := parseCmdline("console=ttyS0 quiet dcres.mem=60 dcres.dirty=1048576 dcres.pattern=hot dcres.seed=7")
	if err != nil {
		t.Fatal(err)
	}
	want := config{MemPercent: 60, DirtyRate: 1 << 20, Pattern: "hot", Seed: 7}
	if c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	if c, err := parseCmdline("console=ttyS0"); err != nil || c != defaultConfig() {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	for _, bad := range []string{"dcres.mem=0", "dcres.mem=x", "dcres.dirty=-1", "dcres.pattern=zigzag", "dcres.bogus=1"} {
		if _, err := parseCmdline(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseMemAvailable(t *testing.T) {
	n, err := parseMemAvailable("MemTotal:  250000 kB\nMemFree:  1 kB\nMemAvailable:   200000 kB\n")
	if err != nil || n != 200000<<10 {
		t.Fatalf("got %d %v", n, err)
	}
	if _, err := parseMemAvailable("MemTotal: 1 kB\n"); err == nil {
		t.Fatal("missing line: no error")
	}
}

func TestParseCommand(t *testing.T) {
	for in, want := range map[string]int64{"verify": 0, "verify 12": 12, "  verify 3 ": 3} {
		if id, ok := parseCommand(in); !ok || id != want {
			t.Errorf("%q: got %d %v, want %d", in, id, ok, want)
		}
	}
	for _, bad := range []string{"", "verify x", "verify 1 2", "reboot"} {
		if _, ok := parseCommand(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The host side builds the command line with image.Settings; the guest must
// read back exactly what it was given.
func TestSettingsRoundTrip(t *testing.T) {
	s := image.Settings{MemPercent: 70, DirtyRate: 123456, Pattern: "seq", Seed: 9}
	c, err := parseCmdline("console=ttyS0 " + s.KernelArgs())
	if err != nil {
		t.Fatal(err)
	}
	if want := (config{MemPercent: 70, DirtyRate: 123456, Pattern: "seq", Seed: 9}); c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	if c, err := parseCmdline(image.Settings{}.KernelArgs()); err != nil || c != defaultConfig() {
		t.Fatalf("zero settings: %+v %v", c, err)
	}
}
