package profiles

import (
	"strings"
	"testing"
)

// TestTeachingLabs checks that each shipped lab teaches what its guide
// says: the shapes and steps the guides in docs/labs point students at.
func TestTeachingLabs(t *testing.T) {
	load := func(name string) *Profile {
		t.Helper()
		p, ok := Embedded(name)
		if !ok {
			t.Fatalf("lab %s is not shipped", name)
		}
		return p
	}
	kinds := func(p *Profile) string {
		var k []string
		for _, st := range p.Scenario {
			k = append(k, st.Kind)
		}
		return strings.Join(k, " ")
	}

	split := load("lab-split")
	var mains []string
	for _, st := range split.Scenario {
		if st.Kind == StepRestore {
			mains = append(mains, strings.Split(st.Restore.Placement, ",")[0])
		}
	}
	if split.VM.Split[0].Fraction != 0.5 || strings.Join(mains, " ") != "main=25% main=10%" {
		t.Errorf("lab-split: main share should shrink 50%% -> 25%% -> 10%%, got %v then %v", split.VM.Split, mains)
	}

	methods := load("lab-methods")
	if !methods.Lab.Netns || methods.Lab.LinkRate != 200e6 || !strings.Contains(kinds(methods), "checkpoint checkpoint") ||
		methods.Scenario[1].Checkpoint.Method != "dcres" || methods.Scenario[2].Checkpoint.Method != "traditional" {
		t.Errorf("lab-methods: want dcres then traditional on 200 Mbit/s netns links: %+v", methods)
	}

	live := load("lab-live")
	nlive := 0
	for _, st := range live.Scenario {
		if st.Kind == StepCheckpoint && st.Checkpoint.Live {
			nlive++
		}
	}
	if nlive < 2 || live.VM.Split[0].Fraction > 0.1 || live.VM.CacheBytes > live.VM.MemoryBytes/20 || !strings.HasSuffix(kinds(live), "verify verify") {
		t.Errorf("lab-live: want live checkpoints under heavy paging, then verify: %d live, %+v", nlive, live.VM)
	}

	failure := load("lab-failure")
	k := kinds(failure)
	if !strings.Contains(k, "checkpoint") || !strings.Contains(k, "fault") || !strings.HasSuffix(k, "restore run verify") {
		t.Errorf("lab-failure: want checkpoint, fault, restore, verify: %s", k)
	}
	for _, st := range failure.Scenario {
		if st.Kind == StepFault && st.Fault != (Fault{FaultKill, "sub2", 0}) {
			t.Errorf("lab-failure fault = %+v, want kill sub2", st.Fault)
		}
		if st.Kind == StepRestore && st.Restore.Placement != "main=50%,sub1=50%" {
			t.Errorf("lab-failure restores onto %s, want main and sub1", st.Restore.Placement)
		}
	}

	// Each QEMU variant is its lab with driver qemu and a small guest.
	for _, name := range []string{"lab-split", "lab-methods"} {
		q := load(name + "-qemu")
		if q.VM.Driver != "qemu" || q.VM.MemoryBytes > 256<<20 || q.Lab.Netns != load(name).Lab.Netns {
			t.Errorf("%s-qemu: %+v", name, q.VM)
		}
	}
}
