package main

import (
	"fmt"
	"strconv"
	"strings"
)

// config is what the kernel command line asks of the workload.
type config struct {
	MemPercent int    // share of MemAvailable to allocate (dcres.mem)
	DirtyRate  int64  // bytes per second to rewrite (dcres.dirty)
	Pattern    string // "random", "seq" or "hot" (dcres.pattern)
	Seed       uint64 // dcres.seed
}

func defaultConfig() config {
	return config{MemPercent: 50, DirtyRate: 4 << 20, Pattern: "random", Seed: 1}
}

// parseCmdline reads dcres.* words from /proc/cmdline's text. Unknown dcres.
// words are errors so a typo in a profile does not silently run defaults.
func parseCmdline(s string) (config, error) {
	c := defaultConfig()
	for _, w := range strings.Fields(s) {
		k, v, ok := strings.Cut(w, "=")
		if !ok || !strings.HasPrefix(k, "dcres.") {
			continue
		}
		var err error
		switch k {
		case "dcres.mem":
			c.MemPercent, err = strconv.Atoi(v)
			if err == nil && (c.MemPercent < 1 || c.MemPercent > 95) {
				err = fmt.Errorf("must be 1..95")
			}
		case "dcres.dirty":
			c.DirtyRate, err = strconv.ParseInt(v, 10, 64)
			if err == nil && c.DirtyRate < 0 {
				err = fmt.Errorf("must be >= 0")
			}
		case "dcres.pattern":
			c.Pattern = v
			if v != "random" && v != "seq" && v != "hot" {
				err = fmt.Errorf("must be random, seq or hot")
			}
		case "dcres.seed":
			c.Seed, err = strconv.ParseUint(v, 10, 64)
		default:
			err = fmt.Errorf("unknown setting")
		}
		if err != nil {
			return c, fmt.Errorf("kernel command line %q: %v", w, err)
		}
	}
	return c, nil
}

// parseMemAvailable returns MemAvailable in bytes from /proc/meminfo's text.
func parseMemAvailable(meminfo string) (int64, error) {
	for _, line := range strings.Split(meminfo, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemAvailable:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("meminfo %q: %v", line, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("meminfo has no MemAvailable line")
}
