package fusemem

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
)

// requireFUSE skips a test that needs a real mount, unless
// DCRES_REQUIRE_FUSE=1 makes a missing prerequisite a failure (CI).
func requireFUSE(t testing.TB) {
	t.Helper()
	reason := ""
	if os.Geteuid() != 0 {
		reason = "not root (go-fuse mounts with mount(2))"
	} else if _, err := os.Stat("/dev/fuse"); err != nil {
		reason = "/dev/fuse is missing"
	}
	if reason == "" {
		return
	}
	if os.Getenv("DCRES_REQUIRE_FUSE") == "1" {
		t.Fatalf("FUSE required (DCRES_REQUIRE_FUSE=1) but %s", reason)
	}
	t.Skipf("needs a real FUSE mount: %s", reason)
}

// memBackend is an in-memory home for one node, recording what it serves.
type memBackend struct {
	mu      sync.Mutex
	data    []byte
	readOff []int64
	writeOf []int64 // offset of every page written
	failErr error
}

func newMemBackend(size int64) *memBackend { return &memBackend{data: make([]byte, size)} }

func (b *memBackend) ReadAt(ctx context.Context, p []byte, off int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failErr != nil {
		return b.failErr
	}
	if off%PageSize != 0 || len(p)%PageSize != 0 {
		return errors.New("unaligned read reached the backend")
	}
	copy(p, b.data[off:])
	b.readOff = append(b.readOff, off)
	return nil
}

func (b *memBackend) WriteAt(ctx context.Context, p []byte, off int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failErr != nil {
		return b.failErr
	}
	if off%PageSize != 0 || len(p)%PageSize != 0 {
		return errors.New("unaligned write reached the backend")
	}
	copy(b.data[off:], p)
	for o := off; o < off+int64(len(p)); o += PageSize {
		b.writeOf = append(b.writeOf, o)
	}
	return nil
}

func (b *memBackend) reads() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.readOff)
}

func (b *memBackend) pageWrites() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.writeOf)
}

func (b *memBackend) page(off int64) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.data[off:off+PageSize]...)
}

// fill writes a pattern that names each page, so a misplaced page shows.
func (b *memBackend) fill(tag byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fillPattern(b.data, 0, tag)
}

func fillPattern(p []byte, base int64, tag byte) {
	for i := range p {
		at := base + int64(i)
		pg := at / PageSize
		p[i] = byte(pg) ^ byte(pg>>8) ^ tag ^ byte(at%251)
	}
}

func mountT(t testing.TB, opt Options, specs ...NodeSpec) *Mount {
	t.Helper()
	requireFUSE(t)
	if opt.Logf == nil {
		opt.Logf = t.Logf
	}
	m, err := New(context.Background(), t.TempDir(), specs, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}
