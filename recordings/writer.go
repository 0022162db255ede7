package recordings

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"dcres/api"
)

// Writer writes one recording. It is safe for concurrent use.
type Writer struct {
	mu     sync.Mutex
	bw     *bufio.Writer
	closer io.Closer
	err    error
}

// NewWriter writes hdr (Format, Version and a zero Started are filled in)
// to w and returns a Writer for the events.
func NewWriter(w io.Writer, hdr Header) (*Writer, error) {
	hdr.Format, hdr.Version = Format, Version
	if hdr.Started.IsZero() {
		hdr.Started = time.Now()
	}
	hdr.Started = hdr.Started.UTC()
	rw := &Writer{bw: bufio.NewWriter(w)}
	if err := rw.line(hdr); err != nil {
		return nil, err
	}
	return rw, nil
}

// Create creates (or truncates) the recording file path and writes hdr.
// Close the Writer to close the file.
func Create(path string, hdr Header) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	w, err := NewWriter(f, hdr)
	if err != nil {
		f.Close()
		return nil, err
	}
	w.closer = f
	return w, nil
}

// Write records ev at t after the start. Its texts are scrubbed (see the
// package doc). Each event is flushed at once, so a recording cut short by a
// crash loses at most the line being written.
func (w *Writer) Write(t time.Duration, ev api.Event) error {
	return w.line(Entry{T: t, Ev: scrub(ev)})
}

func (w *Writer) line(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("recording: encode: %w", err)
	}
	if len(b) >= MaxLine {
		return fmt.Errorf("recording: an event of %d bytes exceeds the line limit of %d", len(b), MaxLine)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	b = append(b, '\n')
	if _, err := w.bw.Write(b); err != nil {
		w.err = fmt.Errorf("recording: write: %w", err)
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("recording: write: %w", err)
	}
	return w.err
}

// Close flushes and, for a Writer from Create, closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.err
	if err == nil {
		err = w.bw.Flush()
	}
	if w.closer != nil {
		err = errors.Join(err, w.closer.Close())
		w.closer = nil
	}
	if w.err == nil {
		w.err = errors.New("recording: writer closed")
	}
	return err
}
