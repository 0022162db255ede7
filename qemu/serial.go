package qemu

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Line is one line of the guest's serial console.
type Line struct {
	Time time.Time
	Raw  string
	// Kind is "hb", "ready", "verify", "error" or "fatal" (the guest's
	// workload could not start; Raw says why) for the verifying guest's
	// report lines, else "other" (kernel messages, warnings).
	Kind string
	// Fields are the line's integer key=value pairs, e.g. seq, pages, errors.
	Fields map[string]int64
}

// ParseLine parses one console line. The report may follow other text on the
// same line (kernel messages can interleave), so "DCRES " is searched for.
func ParseLine(raw string, at time.Time) Line {
	raw = strings.TrimRight(raw, "\r\n")
	raw = strings.TrimLeft(raw, "\x00")
	l := Line{Time: at, Raw: raw, Kind: "other"}
	i := strings.Index(raw, "DCRES ")
	if i < 0 {
		return l
	}
	words := strings.Fields(raw[i+len("DCRES "):])
	if len(words) == 0 {
		return l
	}
	switch words[0] {
	case "hb", "ready", "verify", "error", "fatal":
		l.Kind = words[0]
	default:
		return l
	}
	l.Fields = make(map[string]int64, len(words)-1)
	for _, w := range words[1:] {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			l.Fields[k] = n
		}
	}
	return l
}

// tailLines is how many console lines SerialTail can return.
const tailLines = 500

// console reads the serial console, keeps a tail, copies every line to a
// log, publishes lines on a channel (dropping when the reader is slow) and
// wakes internal waiters, which never miss a line.
type console struct {
	out  chan Line
	done chan struct{}

	mu      sync.Mutex
	tail    []string
	waiters map[*waiter]struct{}
	dropped int64
}

type waiter struct {
	match func(Line) bool
	ch    chan Line // capacity 1
}

func newConsole() *console {
	return &console{out: make(chan Line, 1024), done: make(chan struct{}), waiters: map[*waiter]struct{}{}}
}

// read consumes r until EOF or error, writing each raw line to log (if not
// nil); it closes the public channel when done.
func (c *console) read(r io.Reader, log io.Writer, now func() time.Time) {
	defer close(c.done)
	defer close(c.out)
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		s, err := br.ReadString('\n')
		if s != "" && (err == nil || strings.TrimSpace(s) != "") {
			l := ParseLine(s, now())
			if log != nil {
				io.WriteString(log, l.Raw+"\n")
			}
			c.publish(l)
		}
		if err != nil {
			return
		}
	}
}

func (c *console) publish(l Line) {
	c.mu.Lock()
	c.tail = append(c.tail, l.Raw)
	if len(c.tail) > tailLines {
		c.tail = append(c.tail[:0:0], c.tail[len(c.tail)-tailLines:]...)
	}
	for w := range c.waiters {
		if w.match(l) {
			select {
			case w.ch <- l:
			default:
			}
			delete(c.waiters, w)
		}
	}
	c.mu.Unlock()
	select {
	case c.out <- l:
	default:
		c.mu.Lock()
		c.dropped++
		c.mu.Unlock()
	}
}

// expect registers interest in the next line that matches; call it before
// causing the line, then receive from the returned channel. cancel removes
// the interest.
func (c *console) expect(match func(Line) bool) (<-chan Line, func()) {
	w := &waiter{match: match, ch: make(chan Line, 1)}
	c.mu.Lock()
	c.waiters[w] = struct{}{}
	c.mu.Unlock()
	return w.ch, func() {
		c.mu.Lock()
		delete(c.waiters, w)
		c.mu.Unlock()
	}
}

func (c *console) lastLines(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > len(c.tail) || n <= 0 {
		n = len(c.tail)
	}
	return append([]string(nil), c.tail[len(c.tail)-n:]...)
}
