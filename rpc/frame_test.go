package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"dcres/internal/leakcheck"
)

// rawFrame builds a frame's bytes with arbitrary lengths.
func rawFrame(magicStr string, hlen, plen uint32, rest string) []byte {
	b := []byte(magicStr)
	b = binary.BigEndian.AppendUint32(b, hlen)
	b = binary.BigEndian.AppendUint32(b, plen)
	return append(b, rest...)
}

func goodFrame(json, payload string) []byte {
	return rawFrame("dcr1", uint32(len(json)), uint32(len(payload)), json+payload)
}

func TestReadFrameRejectsMalformed(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"bad magic", goodFrame(`{"kind":"event","method":"m"}`, "")[1:], "bad magic"},
		{"zero header", rawFrame("dcr1", 0, 0, ""), "header length 0"},
		{"huge header", rawFrame("dcr1", MaxHeader+1, 0, ""), "header length"},
		{"huge payload", rawFrame("dcr1", 2, 0xffffffff, "{}"), "payload length 4294967295 exceeds"},
		{"bad json", goodFrame(`{"kind":`, ""), "header"},
		{"unknown kind", goodFrame(`{"kind":"gossip","method":"m"}`, ""), `unknown kind "gossip"`},
		{"request without id", goodFrame(`{"kind":"request","method":"m"}`, ""), "without id"},
		{"request without method", goodFrame(`{"id":1,"kind":"request"}`, ""), "without id or method"},
		{"response without id", goodFrame(`{"kind":"response"}`, ""), "response without id"},
		{"event without method", goodFrame(`{"kind":"event"}`, ""), "event without method"},
	}
	for _, tc := range cases {
		_, err := readFrame(bytes.NewReader(tc.in), 1<<20)
		if !errors.Is(err, errFrame) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want malformed frame with %q", tc.name, err, tc.want)
		}
	}
}

func TestReadFrameTruncated(t *testing.T) {
	full := goodFrame(`{"id":3,"kind":"response"}`, "payload")
	for n := 1; n < len(full); n++ {
		_, err := readFrame(bytes.NewReader(full[:n]), 1<<20)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut at %d: got %v, want unexpected EOF", n, err)
		}
	}
	if _, err := readFrame(bytes.NewReader(nil), 1<<20); err != io.EOF {
		t.Fatalf("empty stream: %v, want io.EOF", err)
	}
}

// TestLyingPayloadLengthAllocatesLittle shows that a payload length that lies
// does not allocate the claimed size up front.
func TestLyingPayloadLengthAllocatesLittle(t *testing.T) {
	in := rawFrame("dcr1", 29, 60<<20, `{"kind":"event","method":"m"}`+"short")
	var before, after runtimeMem
	before.read()
	_, err := readFrame(bytes.NewReader(in), 64<<20)
	after.read()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v", err)
	}
	if grew := after.total - before.total; grew > 8<<20 {
		t.Fatalf("a 5-byte payload claiming 60 MiB allocated %d bytes", grew)
	}
}

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	f := &frame{header: header{ID: 9, Kind: kindRequest, Method: "put", Body: []byte(`{"a":1}`)}, Payload: []byte("data")}
	if err := writeFrame(&buf, f, 1<<20); err != nil {
		t.Fatal(err)
	}
	g, err := readFrame(&buf, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if g.ID != 9 || g.Kind != kindRequest || g.Method != "put" || string(g.Body) != `{"a":1}` || string(g.Payload) != "data" {
		t.Fatalf("got %+v", g)
	}
}

func TestMalformedStreamEndsConn(t *testing.T) {
	leakcheck.Check(t)
	p1, p2 := net.Pipe()
	defer p2.Close()
	var mu sync.Mutex
	var logs []string
	c := NewConn(p1, Options{Logf: func(f string, a ...any) {
		mu.Lock()
		logs = append(logs, f)
		mu.Unlock()
	}})
	defer c.Close()
	go p2.Write(rawFrame("HTTP", 0, 0, ""))
	select {
	case <-c.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("garbage did not end the connection")
	}
	if err := c.Err(); !errors.Is(err, ErrConnLost) || !strings.Contains(err.Error(), "bad magic") {
		t.Fatalf("Err() = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logs) != 1 {
		t.Fatalf("logs: %q", logs)
	}
}

// FuzzReadFrame checks that no input panics or allocates past the bounds,
// and that whatever reads back re-encodes to a frame that reads the same.
func FuzzReadFrame(f *testing.F) {
	f.Add(goodFrame(`{"id":1,"kind":"request","method":"ping","body":{"x":1}}`, "abc"))
	f.Add(goodFrame(`{"kind":"event","method":"tick"}`, ""))
	f.Add(goodFrame(`{"id":2,"kind":"response","error":{"code":"error","message":"no"}}`, ""))
	f.Add(rawFrame("dcr1", 5, 1<<30, "{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxPayload = 1 << 16
		fr, err := readFrame(bytes.NewReader(data), maxPayload)
		if err != nil {
			return
		}
		if len(fr.Payload) > maxPayload {
			t.Fatalf("payload %d beyond the bound", len(fr.Payload))
		}
		var buf bytes.Buffer
		if err := writeFrame(&buf, fr, maxPayload); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := readFrame(&buf, maxPayload)
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if again.ID != fr.ID || again.Kind != fr.Kind || again.Method != fr.Method ||
			!bytes.Equal(again.Payload, fr.Payload) || (again.Error == nil) != (fr.Error == nil) {
			t.Fatalf("round trip changed the frame: %+v vs %+v", fr, again)
		}
	})
}

func TestLargeBodySpillsIntoThePayload(t *testing.T) {
	big := make([]byte, 0, 3<<20)
	big = append(big, '"')
	for len(big) < 3<<20-1 {
		big = append(big, 'x')
	}
	big = append(big, '"')
	var buf bytes.Buffer
	f := &frame{header: header{ID: 1, Kind: kindRequest, Method: "m", Body: big}, Payload: []byte("data")}
	if err := writeFrame(&buf, f, DefaultMaxPayload); err != nil {
		t.Fatal(err)
	}
	got, err := readFrame(&buf, DefaultMaxPayload)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Body, big) || string(got.Payload) != "data" {
		t.Fatalf("body %d bytes, payload %q", len(got.Body), got.Payload)
	}
}
