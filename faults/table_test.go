package faults

import (
	"strings"
	"testing"
)

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	rows := []Row{
		{Fault: "SIGKILL sub1", Phase: "before ckpt.save", Sees: "checkpoint x failed:\n  sub1 | gone", OnDisk: "nothing", Earlier: "verify, restore", OK: true},
		{Fault: "fail main", Phase: "after ckpt.commit", Sees: strings.Repeat("x", 500), Problem: "listed but incomplete"},
	}
	if err := WriteTable(&b, rows); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| SIGKILL sub1 | before ckpt.save | checkpoint x failed: sub1 \\| gone | nothing | verify, restore | yes |",
		"| **NO**: listed but incomplete |",
		"1 row(s) lost something",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Rows sort by fault: "SIGKILL" before "fail".
	if strings.Index(out, "SIGKILL sub1") > strings.Index(out, "fail main") {
		t.Errorf("rows not sorted by fault:\n%s", out)
	}
	if strings.Contains(out, strings.Repeat("x", maxSees+1)) {
		t.Errorf("long cell not cut")
	}
}
