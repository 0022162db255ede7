package orchestrator

import (
	"context"
	"fmt"
)

// AwaitWorkload waits until the guest runs its workload (its first
// heartbeat: a QEMU guest first writes all of its memory once, which is not
// its steady writing), or until ctx ends. A synthetic guest runs its
// workload from the start.
func (s *Session) AwaitWorkload(ctx context.Context) error {
	if s.prof.VM.Driver != "qemu" {
		return nil
	}
	ev, cancel := s.Subscribe()
	defer cancel()
	for {
		select {
		case e := <-ev:
			if e.Guest != nil && e.Guest.PagesWritten > 0 {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("the guest's workload did not start (see the agents' logs): %w", ctx.Err())
		}
	}
}
