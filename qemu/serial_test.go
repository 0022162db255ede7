package qemu

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseLine(t *testing.T) {
	at := time.Unix(1, 0)
	cases := []struct {
		raw    string
		kind   string
		fields map[string]int64
	}{
		{"DCRES hb seq=3 pages=10 written=20 read=5 errors=0 uptime_ms=3000\r\n", "hb",
			map[string]int64{"seq": 3, "pages": 10, "written": 20, "read": 5, "errors": 0, "uptime_ms": 3000}},
		{"[    2.1] random: crng initDCRES ready pages=7 bytes=28672 seed=1", "ready",
			map[string]int64{"pages": 7, "bytes": 28672, "seed": 1}},
		{"DCRES error page=4 want=2 got=-1", "error", map[string]int64{"page": 4, "want": 2, "got": -1}},
		{"DCRES verify id=9 pages=7 errors=1 junk x=y", "verify", map[string]int64{"id": 9, "pages": 7, "errors": 1}},
		{"DCRES warn no command port", "other", nil},
		{"DCRES fatal allocate 5 bytes: ENOMEM", "fatal", map[string]int64{}},
		{"[    0.0] Linux version 6.1", "other", nil},
		{"", "other", nil},
	}
	for _, c := range cases {
		l := ParseLine(c.raw, at)
		if l.Kind != c.kind || !reflect.DeepEqual(l.Fields, c.fields) || !l.Time.Equal(at) || strings.ContainsAny(l.Raw, "\r\n") {
			t.Errorf("ParseLine(%q) = %+v, want kind %s fields %v", c.raw, l, c.kind, c.fields)
		}
	}
}

func TestConsoleWaitersNeverMiss(t *testing.T) {
	c := newConsole()
	pr, pw := io.Pipe()
	var log strings.Builder
	ch, cancel := c.expect(func(l Line) bool { return l.Kind == "verify" && l.Fields["id"] == 2 })
	defer cancel()
	go c.read(pr, &log, time.Now)
	// More lines than the public channel holds, nobody reading it.
	go func() {
		for i := 0; i < 1500; i++ {
			fmt.Fprintf(pw, "DCRES hb seq=%d errors=0\n", i)
		}
		fmt.Fprintf(pw, "DCRES verify id=1 pages=5 errors=0\nDCRES verify id=2 pages=5 errors=3\npartial")
		pw.Close()
	}()
	select {
	case l := <-ch:
		if l.Fields["errors"] != 3 {
			t.Fatalf("waiter got %s", l.Raw)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter missed its line")
	}
	<-c.done
	tail := c.lastLines(3)
	if want := []string{"DCRES verify id=1 pages=5 errors=0", "DCRES verify id=2 pages=5 errors=3", "partial"}; !reflect.DeepEqual(tail, want) {
		t.Fatalf("tail = %q, want %q", tail, want)
	}
	if n := len(c.lastLines(0)); n != tailLines {
		t.Fatalf("tail holds %d lines, want %d", n, tailLines)
	}
	if c.dropped == 0 {
		t.Fatal("a full public channel dropped nothing")
	}
	if !strings.Contains(log.String(), "DCRES hb seq=0 errors=0\n") || strings.Count(log.String(), "\n") != 1503 {
		t.Fatalf("log has %d lines", strings.Count(log.String(), "\n"))
	}
	n := 0
	for range c.out {
		n++
	}
	if n != cap(c.out) {
		t.Fatalf("public channel delivered %d lines, want %d buffered", n, cap(c.out))
	}
}
