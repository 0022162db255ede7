package hostagent

import "testing"

func TestParseFaults(t *testing.T) {
	fs, err := parseFaults("sub1@ckpt.save:before:kill; ckpt.commit:after:fail ;main@vm.run:before:exit", "sub1")
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 || fs[0] != (fault{"ckpt.save", "before", "kill"}) || fs[1] != (fault{"ckpt.commit", "after", "fail"}) {
		t.Fatalf("faults for sub1: %+v", fs)
	}
	for _, bad := range []string{"ckpt.save:during:kill", "ckpt.save:before:explode", "ckpt.save"} {
		if _, err := parseFaults(bad, "main"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
