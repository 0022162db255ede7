package fusemem

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

const testSize = 4 << 20 // 1024 pages

func TestMmapReadsPagesFromBackend(t *testing.T) {
	be := newMemBackend(testSize)
	be.fill(7)
	m := mountT(t, Options{}, NodeSpec{Name: "ram1", Size: testSize, Backend: be})
	g := startGuest(t, m.Path("ram1"), testSize)
	for _, pg := range []int64{0, 1, 17, 500, 1023} {
		g.do("check %d 7", pg)
	}
	st := m.Stats("ram1")
	if st.Reads == 0 || st.ReadBytes == 0 || be.reads() == 0 {
		t.Fatalf("no READ reached the backend: stats %+v", st)
	}
	if st.Errors != 0 {
		t.Fatalf("errors: %+v", st)
	}
}

func dirtyPages(g *guest, pages []int64, tag byte) {
	for _, pg := range pages {
		g.do("write %d %d", pg, tag)
	}
}

func someDirtyPages(n int) []int64 {
	var pages []int64
	for i := range n {
		pages = append(pages, int64((i*37)%1024))
	}
	return pages
}

func TestFlushDeliversGuestDirtiedPages(t *testing.T) {
	be := newMemBackend(testSize)
	m := mountT(t, Options{}, NodeSpec{Name: "n", Size: testSize, Backend: be})
	g := startGuest(t, m.Path("n"), testSize)
	g.do("seq") // fault everything in first, so the flush below carries only writes
	pages := someDirtyPages(300)
	before := be.pageWrites()
	dirtyPages(g, pages, 0x5a)
	start := time.Now()
	if err := m.Flush(context.Background(), "n"); err != nil {
		t.Fatal(err)
	}
	delivered := be.pageWrites() - before
	t.Logf("dirtied %d distinct pages, Flush delivered %d page writes in %v", len(pages), delivered, time.Since(start))
	for _, pg := range pages {
		off := pg * PageSize
		want := make([]byte, PageSize)
		fillPattern(want, off, 0x5a)
		if !bytes.Equal(be.page(off), want) {
			t.Fatalf("page %d: backend does not hold the guest's write after Flush", pg)
		}
	}
	if delivered < len(pages) {
		t.Fatalf("Flush delivered %d page writes, fewer than the %d pages dirtied", delivered, len(pages))
	}
	if st := m.Stats("n"); st.Writes == 0 || st.WriteBytes < uint64(len(pages))*PageSize {
		t.Fatalf("stats do not count the writes: %+v", st)
	}
}

func TestFlushToRoutesWritesToSink(t *testing.T) {
	be := newMemBackend(testSize)
	m := mountT(t, Options{}, NodeSpec{Name: "n", Size: testSize, Backend: be})
	g := startGuest(t, m.Path("n"), testSize)
	pages := someDirtyPages(200)
	dirtyPages(g, pages, 0x33)
	before := be.pageWrites()
	var mu sync.Mutex
	got := map[int64][]byte{}
	err := m.FlushTo(context.Background(), "n", func(off int64, p []byte) error {
		mu.Lock()
		defer mu.Unlock()
		for i := 0; i < len(p); i += PageSize {
			got[off+int64(i)] = append([]byte(nil), p[i:i+PageSize]...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := be.pageWrites() - before; n != 0 {
		t.Fatalf("%d page writes reached the backend during FlushTo; all should go to the sink", n)
	}
	for _, pg := range pages {
		off := pg * PageSize
		want := make([]byte, PageSize)
		fillPattern(want, off, 0x33)
		if !bytes.Equal(got[off], want) {
			t.Fatalf("page %d: sink did not get the guest's write", pg)
		}
	}
	t.Logf("dirtied %d pages, sink got %d", len(pages), len(got))
	// After FlushTo, writes go home again.
	dirtyPages(g, pages[:1], 0x44)
	if err := m.Flush(context.Background(), "n"); err != nil {
		t.Fatal(err)
	}
	if be.pageWrites() == before {
		t.Fatal("after FlushTo returned, a Flush still did not reach the backend")
	}
}

func TestFlushToSinkErrorIsReported(t *testing.T) {
	be := newMemBackend(testSize)
	var reported []int64
	var mu sync.Mutex
	m := mountT(t, Options{OnError: func(node string, off int64, err error) {
		mu.Lock()
		reported = append(reported, off)
		mu.Unlock()
	}}, NodeSpec{Name: "n", Size: testSize, Backend: be})
	g := startGuest(t, m.Path("n"), testSize)
	dirtyPages(g, []int64{3}, 1)
	err := m.FlushTo(context.Background(), "n", func(int64, []byte) error { return errors.New("disk full") })
	if err == nil {
		t.Fatal("FlushTo with a failing sink returned nil")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) == 0 {
		t.Fatal("OnError was not called for the failed sink write")
	}
}

func TestEvictThenReadFetchesAgain(t *testing.T) {
	be := newMemBackend(testSize)
	be.fill(1)
	m := mountT(t, Options{}, NodeSpec{Name: "n", Size: testSize, Backend: be})
	g := startGuest(t, m.Path("n"), testSize)
	off := int64(100 * PageSize)
	g.do("check 100 1")
	r1 := be.reads()
	g.do("check 100 1")
	if be.reads() != r1 {
		t.Fatal("a second access to a resident page READ again")
	}
	be.fill(2) // the home's copy changes (e.g. page moved and was updated)
	if err := m.Evict(context.Background(), "n", off, PageSize); err != nil {
		t.Fatal(err)
	}
	g.do("check 100 2")
	if be.reads() == r1 {
		t.Fatal("after Evict the access did not READ from the backend")
	}
}

func TestEvictWritesDirtyPagesBackFirst(t *testing.T) {
	be := newMemBackend(testSize)
	m := mountT(t, Options{}, NodeSpec{Name: "n", Size: testSize, Backend: be})
	g := startGuest(t, m.Path("n"), testSize)
	dirtyPages(g, []int64{5, 6}, 9)
	if err := m.Evict(context.Background(), "n", 0, testSize); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, PageSize)
	fillPattern(want, 5*PageSize, 9)
	if !bytes.Equal(be.page(5*PageSize), want) {
		t.Fatal("Evict dropped a dirty page without writing it home")
	}
	g.do("check 5 9") // re-read from the backend keeps the guest's write
}

func TestPushPrefillsWithoutReads(t *testing.T) {
	be := newMemBackend(testSize)
	be.fill(4)
	m := mountT(t, Options{}, NodeSpec{Name: "n", Size: testSize, Backend: be})
	data := make([]byte, testSize)
	fillPattern(data, 0, 4)
	if err := m.Push("n", 0, data); err != nil {
		t.Fatal(err)
	}
	g := startGuest(t, m.Path("n"), testSize)
	for pg := range int64(testSize / PageSize) {
		g.do("check %d 4", pg)
	}
	if n := be.reads(); n != 0 {
		t.Fatalf("%d READs reached the backend after Push of the whole node", n)
	}
	if err := m.Push("n", 1, data[:PageSize]); err == nil {
		t.Fatal("unaligned Push accepted")
	}
}

func TestReadFailureCallsOnErrorAndReturnsEIO(t *testing.T) {
	be := newMemBackend(testSize)
	be.failErr = errors.New("home sub1 unreachable")
	type rep struct {
		node string
		off  int64
	}
	var mu sync.Mutex
	var reps []rep
	m := mountT(t, Options{OnError: func(node string, off int64, err error) {
		mu.Lock()
		reps = append(reps, rep{node, off})
		mu.Unlock()
	}}, NodeSpec{Name: "sub1", Size: testSize, Backend: be})
	f, err := os.Open(m.Path("sub1"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// pread, not the mmap: a failed fault through the mmap is SIGBUS.
	_, err = f.ReadAt(make([]byte, PageSize), 8*PageSize)
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("read of a failing node: got %v, want EIO", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reps) == 0 || reps[0].node != "sub1" || reps[0].off != 8*PageSize {
		t.Fatalf("OnError reports %+v, want node sub1 at offset %d", reps, 8*PageSize)
	}
	if m.Stats("sub1").Errors == 0 {
		t.Fatal("Stats.Errors not counted")
	}
}

func TestUnalignedPreadAndRefusedUnalignedWrite(t *testing.T) {
	be := newMemBackend(testSize)
	be.fill(3)
	m := mountT(t, Options{}, NodeSpec{Name: "n", Size: testSize, Backend: be})
	f, err := os.OpenFile(m.Path("n"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := make([]byte, 5000)
	if _, err := f.ReadAt(got, 4000); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, testSize)
	fillPattern(want, 0, 3)
	if !bytes.Equal(got, want[4000:9000]) {
		t.Fatal("unaligned pread returned wrong bytes")
	}
	if _, err := f.WriteAt([]byte("x"), 10); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("unaligned write: got %v, want EINVAL", err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != testSize {
		t.Fatalf("stat: %v size %d", err, fi.Size())
	}
	if err := f.Truncate(1); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("resize: got %v, want EINVAL", err)
	}
}

func TestCheckOnFUSE(t *testing.T) {
	if err := CheckOnFUSE(t.TempDir()); err == nil {
		t.Fatal("CheckOnFUSE accepted a plain directory")
	}
	if _, err := os.Stat("/dev/shm"); err == nil {
		if err := CheckOnFUSE("/dev/shm"); err == nil {
			t.Fatal("CheckOnFUSE accepted tmpfs")
		}
	}
	dir := t.TempDir()
	if err := CheckOnFUSE(dir + "/files/n"); err == nil {
		t.Fatal("CheckOnFUSE accepted a missing path")
	}
	requireFUSE(t)
	m, err := New(context.Background(), dir, []NodeSpec{{Name: "n", Size: PageSize, Backend: newMemBackend(PageSize)}}, Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := CheckOnFUSE(m.Path("n")); err != nil {
		t.Fatal(err)
	}
}

func TestNewValidatesSpecs(t *testing.T) {
	be := newMemBackend(PageSize)
	bad := [][]NodeSpec{
		nil,
		{{Name: "", Size: PageSize, Backend: be}},
		{{Name: "..", Size: PageSize, Backend: be}},
		{{Name: "a/b", Size: PageSize, Backend: be}},
		{{Name: "a", Size: 100, Backend: be}},
		{{Name: "a", Size: PageSize}},
		{{Name: "a", Size: PageSize, Backend: be}, {Name: "a", Size: PageSize, Backend: be}},
	}
	for i, specs := range bad {
		if _, err := New(context.Background(), t.TempDir(), specs, Options{}); err == nil {
			t.Errorf("case %d: New accepted %+v", i, specs)
		}
	}
}

func TestCloseWithFileStillMappedDoesNotHang(t *testing.T) {
	requireFUSE(t)
	be := newMemBackend(testSize)
	m, err := New(context.Background(), t.TempDir(), []NodeSpec{{Name: "n", Size: testSize, Backend: be}}, Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			m.Close()
		}
	})
	g := startGuest(t, m.Path("n"), testSize)
	g.do("write 3 8")
	g.do("check 3 8")
	done := make(chan error, 1)
	go func() { done <- m.Close() }()
	select {
	case err := <-done:
		closed = true
		t.Logf("Close with the file still mapped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung with a file still open")
	}
	if err := CheckOnFUSE(m.Path("n")); err == nil {
		t.Fatal("mount still reachable after Close")
	}
}
