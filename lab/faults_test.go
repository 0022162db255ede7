package lab

import (
	"strings"
	"testing"
)

func TestFaultsNeedANetnsLab(t *testing.T) {
	l := &Lab{}
	for name, err := range map[string]error{
		"CutLink":     l.CutLink("main"),
		"RestoreLink": l.RestoreLink("main"),
		"SetLinkRate": l.SetLinkRate("main", 1e6),
	} {
		if err == nil || !strings.Contains(err.Error(), "netns lab") || !strings.Contains(err.Error(), "main") {
			t.Errorf("%s on a loopback lab: %v, want an error naming the host and the need for a netns lab", name, err)
		}
	}
	if err := l.Kill("sub9"); err == nil || !strings.Contains(err.Error(), "sub9") {
		t.Errorf("Kill of an unknown host: %v", err)
	}
	if err := (&Lab{netns: newPlan("abcdef", "d", 1, []string{"main"}, 0)}).SetLinkRate("main", -1); err == nil {
		t.Errorf("a negative rate was accepted")
	}
	if l.Namespace("main") != "" {
		t.Errorf("a loopback lab names a namespace")
	}
}

func TestRateString(t *testing.T) {
	for bps, want := range map[int64]string{0: "unshaped", 1e9: "1 Gbit/s", 200e6: "200 Mbit/s", 1500: "1500 bit/s"} {
		if got := rateString(bps); got != want {
			t.Errorf("rateString(%d) = %q, want %q", bps, got, want)
		}
	}
}
