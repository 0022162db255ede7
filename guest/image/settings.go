package image

import (
	"fmt"
	"strings"
)

// Settings is the verifying guest's workload, passed on the kernel command
// line. Zero fields keep the guest's defaults (50% of MemAvailable, 4 MiB/s,
// random, seed 1).
type Settings struct {
	MemPercent int    // share of the guest's MemAvailable to allocate and check, 1..95
	DirtyRate  int64  // bytes per second the guest rewrites
	Pattern    string // "random", "seq" or "hot" (80% of writes on a tenth of memory)
	Seed       uint64
}

// KernelArgs returns the dcres.* words for the kernel command line.
func (s Settings) KernelArgs() string {
	var w []string
	if s.MemPercent != 0 {
		w = append(w, fmt.Sprintf("dcres.mem=%d", s.MemPercent))
	}
	if s.DirtyRate != 0 {
		w = append(w, fmt.Sprintf("dcres.dirty=%d", s.DirtyRate))
	}
	if s.Pattern != "" {
		w = append(w, "dcres.pattern="+s.Pattern)
	}
	if s.Seed != 0 {
		w = append(w, fmt.Sprintf("dcres.seed=%d", s.Seed))
	}
	return strings.Join(w, " ")
}
