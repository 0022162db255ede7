package orchestrator_test

import (
	"context"
	"testing"
	"time"

	"dcres/api"
)

// TestIntegrationPeriodicWithRetention: periodic incremental checkpoints with
// keep 3 leave at most 3 checkpoints plus the parents they need, and the
// newest restores with every page verified.
func TestIntegrationPeriodicWithRetention(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: runs agent processes")
	}
	_, s := startLab(t, redundancyProfile)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Periodic(ctx, api.CheckpointRequest{Method: "dcres", Incremental: true}, 400*time.Millisecond, 3)
	}()
	time.Sleep(4 * time.Second)
	cancel()
	<-done
	list, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) < 3 {
		t.Fatalf("only %d checkpoints after 4s of a 400ms period", len(list))
	}
	byID := map[string]api.CheckpointInfo{}
	for _, c := range list {
		byID[c.ID] = c
	}
	// Everything listed is a kept checkpoint or an ancestor of one: the
	// newest 3 and their chains; a chain from the first full one.
	kept := map[string]bool{}
	for _, c := range list[len(list)-3:] {
		for id := c.ID; id != ""; id = byID[id].Parent {
			if _, ok := byID[id]; !ok {
				t.Fatalf("checkpoint %s lost its parent %s", c.ID, id)
			}
			kept[id] = true
		}
	}
	if len(kept) != len(list) {
		t.Errorf("%d checkpoints listed, %d needed: retention left extra ones", len(list), len(kept))
	}
	if _, err := s.Restore(context.Background(), api.RestoreRequest{From: "last"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if g, err := s.Verify(context.Background(), ""); err != nil || g.Errors != 0 {
		t.Fatalf("guest: %+v %v", g, err)
	}
}
