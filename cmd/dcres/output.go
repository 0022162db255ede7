package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"dcres/api"
	"dcres/internal/units"
	"dcres/orchestrator"
)

// printJSON writes v as one line of JSON to standard output.
func printJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dcres: encoding output: %v\n", err)
		return
	}
	os.Stdout.Write(append(b, '\n'))
}

// describeStep is a step's one-line text report.
func describeStep(r orchestrator.StepResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-16s", r.Step)
	if !r.OK {
		fmt.Fprintf(&b, " FAILED: %s", r.Error)
		return b.String()
	}
	switch r.Step {
	case "run":
		fmt.Fprintf(&b, " %.1fs", r.Seconds)
	case "checkpoint":
		fmt.Fprintf(&b, " %-11s %s  %.2fs (pause %.2fs)  saved %s  over network %s", r.Method, r.ID, r.Seconds, deref(r.PauseSeconds), units.FormatBytes(derefI(r.BytesSaved)), units.FormatBytes(derefI(r.BytesOverNetwork)))
		if r.ReplicaBytes > 0 {
			fmt.Fprintf(&b, "  replicas %s in %.2fs after the pause", units.FormatBytes(r.ReplicaBytes), r.ReplicaSeconds)
		}
		if r.Live {
			fmt.Fprintf(&b, "  live: %d rounds", len(r.Rounds))
		}
	case "restore":
		fmt.Fprintf(&b, " %s onto %s  %.2fs  pulled %s", r.ID, r.Placement, r.Seconds, units.FormatBytes(derefI(r.BytesOverNetwork)))
	case "verify":
		what := "guest"
		if r.ID != "" {
			what = r.ID
		}
		fmt.Fprintf(&b, " %s: %d pages, %d errors", what, derefI(r.Pages), derefI(r.Errors))
	case "pause-for-reader":
		fmt.Fprintf(&b, " (skipped) %s", r.Text)
	case "fault":
		fmt.Fprintf(&b, " %s", r.Text)
	}
	return b.String()
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

func derefI(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func printPerHost(per []api.HostResult) {
	for _, h := range per {
		fmt.Printf("    %-8s %10s  %6.2fs\n", h.Host, units.FormatBytes(h.Bytes), h.Seconds)
	}
}
