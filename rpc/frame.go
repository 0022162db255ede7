package rpc

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

const (
	// MaxHeader bounds a frame's JSON header.
	MaxHeader = 1 << 20
	// DefaultMaxPayload bounds a frame's binary payload unless
	// Options.MaxPayload says otherwise.
	DefaultMaxPayload = 64 << 20

	prefixLen = 12
	// payloadChunk is how much payload is allocated ahead of the bytes that
	// actually arrived, so a lying length costs at most this much memory
	// beyond what the peer really sent.
	payloadChunk = 1 << 20
)

var magic = [4]byte{'d', 'c', 'r', '1'}

// Frame kinds, as they appear in the JSON header.
const (
	kindRequest  = "request"
	kindResponse = "response"
	kindEvent    = "event"
)

// header is the JSON part of a frame.
type header struct {
	ID     uint64          `json:"id,omitempty"`
	Kind   string          `json:"kind"`
	Method string          `json:"method,omitempty"`
	Error  *Error          `json:"error,omitempty"`
	Body   json.RawMessage `json:"body,omitempty"`
	// BodyLen, when set, says the body travels at the start of the payload
	// instead: a body too large for the header (a manifest, a long list of
	// ranges) still goes through, bounded like any payload.
	BodyLen int `json:"body_len,omitempty"`
}

// frame is one decoded frame.
type frame struct {
	header
	Payload []byte
}

// errFrame marks a malformed frame: the stream cannot be trusted after it.
var errFrame = errors.New("rpc: malformed frame")

// readFrame reads one frame, refusing lengths beyond MaxHeader and maxPayload.
func readFrame(r io.Reader, maxPayload int) (*frame, error) {
	var pre [prefixLen]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, err
	}
	if [4]byte(pre[:4]) != magic {
		return nil, fmt.Errorf("%w: bad magic %q (is the other side a dcres rpc peer of the same version?)", errFrame, pre[:4])
	}
	hlen := binary.BigEndian.Uint32(pre[4:8])
	plen := binary.BigEndian.Uint32(pre[8:12])
	if hlen == 0 || hlen > MaxHeader {
		return nil, fmt.Errorf("%w: header length %d not in 1..%d", errFrame, hlen, MaxHeader)
	}
	if uint64(plen) > uint64(maxPayload) {
		return nil, fmt.Errorf("%w: payload length %d exceeds the limit %d", errFrame, plen, maxPayload)
	}
	hbuf, err := readN(r, int(hlen))
	if err != nil {
		return nil, unexpectedEOF(err)
	}
	f := &frame{}
	if err := json.Unmarshal(hbuf, &f.header); err != nil {
		return nil, fmt.Errorf("%w: header: %v", errFrame, err)
	}
	if err := f.validate(); err != nil {
		return nil, err
	}
	if plen > 0 {
		if f.Payload, err = readN(r, int(plen)); err != nil {
			return nil, unexpectedEOF(err)
		}
	}
	if f.BodyLen != 0 {
		if f.BodyLen < 0 || f.BodyLen > len(f.Payload) || len(f.Body) > 0 {
			return nil, fmt.Errorf("%w: body of %d bytes does not fit the payload of %d", errFrame, f.BodyLen, len(f.Payload))
		}
		f.Body, f.Payload = json.RawMessage(f.Payload[:f.BodyLen:f.BodyLen]), f.Payload[f.BodyLen:]
		f.BodyLen = 0
	}
	return f, nil
}

// validate checks that a header has the fields its kind needs.
func (f *frame) validate() error {
	switch f.Kind {
	case kindRequest:
		if f.ID == 0 || f.Method == "" {
			return fmt.Errorf("%w: request without id or method", errFrame)
		}
	case kindResponse:
		if f.ID == 0 {
			return fmt.Errorf("%w: response without id", errFrame)
		}
	case kindEvent:
		if f.Method == "" {
			return fmt.Errorf("%w: event without method", errFrame)
		}
	default:
		return fmt.Errorf("%w: unknown kind %q", errFrame, f.Kind)
	}
	return nil
}

// readN reads exactly n bytes, growing the buffer as data arrives instead of
// trusting n up front.
func readN(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, payloadChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(n-len(buf), max(len(buf), payloadChunk)))
		}
		m, err := io.ReadFull(r, buf[len(buf):min(n, cap(buf))])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// spillBody is the body size beyond which a body travels in the payload.
const spillBody = 256 << 10

// encodeHeader returns the prefix and JSON header of f, ready to write before
// its payload, or an error if f breaks a bound. A large body moves to the
// front of the payload (f is changed accordingly).
func encodeHeader(f *frame, maxPayload int) ([]byte, error) {
	if len(f.Body) > spillBody {
		f.BodyLen = len(f.Body)
		f.Payload = append(append(make([]byte, 0, len(f.Body)+len(f.Payload)), f.Body...), f.Payload...)
		f.Body = nil
	}
	if len(f.Payload) > maxPayload {
		return nil, fmt.Errorf("rpc: %s %q: payload of %d bytes exceeds the limit %d", f.Kind, f.Method, len(f.Payload), maxPayload)
	}
	j, err := json.Marshal(&f.header)
	if err != nil {
		return nil, fmt.Errorf("rpc: %s %q: encode header: %w", f.Kind, f.Method, err)
	}
	if len(j) > MaxHeader {
		return nil, fmt.Errorf("rpc: %s %q: JSON header of %d bytes exceeds %d: send bulk data as payload", f.Kind, f.Method, len(j), MaxHeader)
	}
	out := make([]byte, prefixLen, prefixLen+len(j))
	copy(out, magic[:])
	binary.BigEndian.PutUint32(out[4:8], uint32(len(j)))
	binary.BigEndian.PutUint32(out[8:12], uint32(len(f.Payload)))
	return append(out, j...), nil
}

// writeFrame writes f whole; the caller serializes writers.
func writeFrame(w io.Writer, f *frame, maxPayload int) error {
	head, err := encodeHeader(f, maxPayload)
	if err != nil {
		return err
	}
	if _, err := w.Write(head); err != nil {
		return err
	}
	if len(f.Payload) > 0 {
		if _, err := w.Write(f.Payload); err != nil {
			return err
		}
	}
	return nil
}
