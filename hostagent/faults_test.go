package hostagent

import (
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	fs, err := parseFaults("sub1@ckpt.save:before:kill; ckpt.commit:after:fail ;main@vm.run:before:exit", "sub1")
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 || fs[0] != (fault{"ckpt.save", "before", "kill"}) || fs[1] != (fault{"ckpt.commit", "after", "fail"}) {
		t.Fatalf("faults for sub1: %+v", fs)
	}
	fs, err = parseFaults("ckpt.save:after:hang=1500ms", "main")
	if err != nil || len(fs) != 1 {
		t.Fatalf("hang=1500ms: %+v %v", fs, err)
	}
	if d, err := hangFor(fs[0].action); d != 1500*time.Millisecond || err != nil {
		t.Errorf("hang=1500ms hangs for %s (%v)", d, err)
	}
	for _, bad := range []string{"ckpt.save:during:kill", "ckpt.save:before:explode", "ckpt.save", "ckpt.save:before:hang=", "ckpt.save:before:hang=-1s", "ckpt.save:before:hang=soon"} {
		if _, err := parseFaults(bad, "main"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
