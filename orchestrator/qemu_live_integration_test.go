package orchestrator_test

import (
	"context"
	"testing"
	"time"

	"dcres/api"
)

// A QEMU guest over three namespaced hosts that keeps writing: its main
// host's node is /dev/shm memory QEMU writes directly, so a live or
// incremental checkpoint is right only if the agent's write tracking
// (userfaultfd write-protect) sees every one of those writes.
const qemuLiveProfile = `name: qemu-live
lab: {hosts: 3, netns: true, link: {rate: 1gbit}}
vm:
  name: vm1
  driver: qemu
  memory: 384MiB
  split: {main: 40%, sub1: 30%, sub2: 30%}
  workload: {pattern: hotcold, dirty_rate: 16MiB/s, seed: 5}
`

// TestIntegrationQEMULiveAndIncremental: a stop-and-copy checkpoint, a live
// one, and two live increments on top of it, all while the guest writes;
// then the guest restored from the chain's end and from the live
// checkpoint runs and verifies all of its memory with 0 errors each time.
// A page the tracking missed would come back stale and fail the guest's
// check.
func TestIntegrationQEMULiveAndIncremental(t *testing.T) {
	requireQEMUNetns(t)
	_, s := startNetnsLab(t, qemuLiveProfile)
	ctx := context.Background()
	// The guest first writes all of its memory once; increments measure
	// its steady writing after that.
	actx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := s.AwaitWorkload(actx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)

	stop, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stop-and-copy %s: %.2fs, pause %.3fs, %d bytes", stop.ID, stop.Seconds, stop.PauseSeconds, stop.BytesSaved)

	live, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres", Live: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("live %s: %.2fs, final pause %.3fs, %d rounds, %d bytes, %d saved again, rounds %+v", live.ID, live.Seconds, live.PauseSeconds, len(live.Rounds), live.BytesSaved, live.BytesAgain, live.Rounds)
	for _, h := range live.PerHost {
		t.Logf("  %+v", h)
	}
	if len(live.Rounds) == 0 || live.BytesSaved < stop.BytesSaved/2 {
		t.Errorf("live checkpoint: %d rounds, %d bytes (the full one saved %d)", len(live.Rounds), live.BytesSaved, stop.BytesSaved)
	}

	var last *api.CheckpointResult
	for i := range 2 {
		time.Sleep(2 * time.Second)
		inc, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres", Live: true, Incremental: true})
		if err != nil {
			t.Fatalf("increment %d: %v", i+1, err)
		}
		want := live.ID
		if last != nil {
			want = last.ID
		}
		if inc.Parent != want || inc.BytesSaved == 0 || inc.BytesSaved >= live.BytesSaved/2 {
			t.Errorf("increment %d: parent %q (want %q), %d bytes (the full one %d)", i+1, inc.Parent, want, inc.BytesSaved, live.BytesSaved)
		}
		t.Logf("increment %s: parent %s, %.2fs, final pause %.3fs, %d bytes, rounds %+v", inc.ID, inc.Parent, inc.Seconds, inc.PauseSeconds, inc.BytesSaved, inc.Rounds)
		for _, h := range inc.PerHost {
			t.Logf("  %+v", h)
		}
		last = inc
	}

	for _, from := range []string{last.ID, live.ID} {
		res, err := s.Restore(ctx, api.RestoreRequest{From: from})
		if err != nil {
			t.Fatalf("restore %s: %v", from, err)
		}
		t.Logf("restore %s: %.2fs", from, res.Seconds)
		time.Sleep(10 * time.Second)
		v, err := s.Verify(ctx, "")
		if err != nil || v.Errors != 0 || v.Pages == 0 {
			t.Fatalf("guest restored from %s: %+v %v", from, v, err)
		}
	}
}
