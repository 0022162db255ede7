package orchestrator

import (
	"testing"
	"time"

	"dcres/api"
)

func TestBusGivesLateSubscribersTheState(t *testing.T) {
	b := newBus()
	defer b.close()
	b.publish(api.Event{Type: api.EvMemMap, MemMap: &api.MemMap{PagesPerCell: 7}})
	b.publish(api.Event{Type: api.EvLog, Message: "old news"})
	ch, stop := b.subscribe()
	defer stop()
	select {
	case ev := <-ch:
		if ev.Type != api.EvMemMap || ev.MemMap.PagesPerCell != 7 {
			t.Fatalf("first event %+v", ev)
		}
	case <-time.After(time.Second):
		t.Fatal("no state for a late subscriber")
	}
	b.publish(api.Event{Type: api.EvLog, Message: "news"})
	if ev := <-ch; ev.Message != "news" {
		t.Fatalf("got %+v, want the new log line (old log lines are not replayed)", ev)
	}
}

func TestBusNeverDropsCompletions(t *testing.T) {
	b := newBus()
	defer b.close()
	ch, stop := b.subscribe()
	defer stop()
	// A slow reader: many samples, then a completion.
	for i := 0; i < 10*maxQueuedSamples; i++ {
		b.publish(api.Event{Type: api.EvHosts})
	}
	b.publish(api.Event{Type: api.EvOpDone, ID: "c1"})
	samples := 0
	for ev := range ch {
		if ev.Type == api.EvOpDone {
			if samples > maxQueuedSamples+1 { // one more may be on its way out of the queue
				t.Errorf("%d samples queued, at most %d", samples, maxQueuedSamples)
			}
			return
		}
		samples++
	}
	t.Fatal("completion lost")
}
