package hostagent

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// leaseGuest is a guest that only pauses and resumes (the lease touches
// nothing else).
type leaseGuest struct {
	guest
	mu      sync.Mutex
	paused  bool
	resumes int
}

func (g *leaseGuest) pause(context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.paused = true
	return nil
}

func (g *leaseGuest) resume(context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.paused = false
	g.resumes++
	return nil
}

func (g *leaseGuest) state() (paused bool, resumes int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.paused, g.resumes
}

func leaseVM(t *testing.T, lease time.Duration) (*vm, *leaseGuest) {
	t.Helper()
	a := &Agent{cfg: Config{Name: "main", Lease: lease, Logf: t.Logf}}
	g := &leaseGuest{}
	v := &vm{a: a, name: "vm1", guest: g}
	t.Cleanup(func() {
		v.mu.Lock()
		if v.lease != nil {
			v.lease.Stop()
		}
		v.mu.Unlock()
	})
	return v, g
}

// TestLeaseRenewed: a coordinator that renews the lease keeps the guest
// paused past the lease (a save slower than it), and its checkpoint stays
// committable; once the renewals stop, the lease resumes the guest.
func TestLeaseRenewed(t *testing.T) {
	const lease = 150 * time.Millisecond
	v, g := leaseVM(t, lease)
	if err := v.pause(context.Background()); err != nil {
		t.Fatal(err)
	}
	v.noteSave("c1")
	for range 8 { // 4 leases' worth
		time.Sleep(lease / 2)
		if err := v.renew(); err != nil {
			t.Fatalf("renew while paused: %v", err)
		}
	}
	if paused, resumes := g.state(); !paused || resumes != 0 {
		t.Fatalf("renewed lease: paused %v, %d resumes (want still paused)", paused, resumes)
	}
	if v.cutBroken("c1") {
		t.Fatal("a renewed lease broke the cut")
	}
	if err := v.resume(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * lease)
	if _, resumes := g.state(); resumes != 1 {
		t.Fatalf("%d resumes after the coordinator's resume (want 1: the lease must not fire again)", resumes)
	}
	if err := v.renew(); err != errNotPaused {
		t.Fatalf("renew of a running guest: %v, want %v", err, errNotPaused)
	}

	// A coordinator that goes silent: the lease fires, the cut breaks, and
	// a late renewal says so.
	if err := v.pause(context.Background()); err != nil {
		t.Fatal(err)
	}
	v.noteSave("c2")
	if err := v.renew(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * lease)
	for {
		if paused, _ := g.state(); !paused {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lease never resumed the guest without renewals")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !v.cutBroken("c2") {
		t.Fatal("the lease resumed the guest during c2's save, yet c2 stays committable")
	}
	if err := v.renew(); err == nil || !strings.Contains(err.Error(), "lease") {
		t.Fatalf("renew after the lease fired: %v, want an error naming the lease", err)
	}
}

// TestLeaseOfEarlierPause: a lease armed for an earlier pause never resumes
// a later one.
func TestLeaseOfEarlierPause(t *testing.T) {
	const lease = 100 * time.Millisecond
	v, g := leaseVM(t, lease)
	ctx := context.Background()
	if err := v.pause(ctx); err != nil {
		t.Fatal(err)
	}
	v.expire(v.pauses + 1) // not this pause's lease
	if paused, _ := g.state(); !paused {
		t.Fatal("another pause's lease resumed the guest")
	}
	v.expire(v.pauses)
	if paused, resumes := g.state(); paused || resumes != 1 {
		t.Fatalf("the pause's own lease: paused %v, %d resumes", paused, resumes)
	}
}
