package eventq

import (
	"fmt"
	"testing"

	"dcres/api"
	"dcres/internal/leakcheck"
)

func TestOrderAndClose(t *testing.T) {
	leakcheck.Check(t)
	q := New()
	for i := 0; i < 100; i++ {
		q.Push(api.Event{Message: fmt.Sprint(i)})
	}
	for i := 0; i < 100; i++ {
		if ev := <-q.C(); ev.Message != fmt.Sprint(i) {
			t.Fatalf("event %d is %q", i, ev.Message)
		}
	}
	q.PushUnless(api.Event{Message: "skipped"}, func([]api.Event) bool { return true })
	q.Push(api.Event{Message: "kept"})
	if ev := <-q.C(); ev.Message != "kept" {
		t.Fatalf("got %q", ev.Message)
	}
	q.Push(api.Event{Message: "never read"})
	q.Close()
	q.Close()
	for range q.C() {
	}
}
