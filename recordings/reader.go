package recordings

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrNewerVersion is wrapped by the error for a recording made by a newer
// dcres than this one.
var ErrNewerVersion = errors.New("newer recording format")

// DamageError says where a recording stopped being readable and why. The
// events before Line were read.
type DamageError struct {
	Line   int    // 1-based line number of the damage
	Reason string // what was wrong
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("recording damaged at line %d: %s (the %d events before it were read)", e.Line, e.Reason, max(e.Line-2, 0))
}

// Open reads the recording at path; see Read.
func Open(path string) (*Recording, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	defer f.Close()
	rec, err := Read(f)
	if err != nil && rec == nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err != nil {
		err = fmt.Errorf("%s: %w", path, err)
		rec.Damage = err
	}
	return rec, err
}

// Read reads a recording. A header that is missing, not a dcres recording,
// or from a newer version yields a nil Recording and an error. A damaged or
// truncated body yields the Recording of the events before the damage (its
// Damage set) and a *DamageError naming the line.
func Read(r io.Reader) (*Recording, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	line, complete, err := readLine(br)
	if err != nil {
		return nil, fmt.Errorf("not a dcres recording: %w", err)
	}
	if len(line) == 0 && !complete {
		return nil, errors.New("not a dcres recording: the file is empty")
	}
	var hdr Header
	if err := json.Unmarshal(line, &hdr); err != nil || hdr.Format != Format {
		return nil, fmt.Errorf("not a dcres recording: line 1 is not a %q header", Format)
	}
	if hdr.Version > Version {
		return nil, fmt.Errorf("made by a newer dcres (version %d); this dcres reads version %d: upgrade: %w", hdr.Version, Version, ErrNewerVersion)
	}
	if hdr.Version < 1 {
		return nil, fmt.Errorf("not a dcres recording: version %d is not a recording version", hdr.Version)
	}
	rec := &Recording{Header: hdr}
	damage := func(n int, format string, args ...any) (*Recording, error) {
		err := &DamageError{Line: n, Reason: fmt.Sprintf(format, args...)}
		rec.Damage = err
		return rec, err
	}
	for n := 2; ; n++ {
		line, complete, err := readLine(br)
		if err != nil {
			return damage(n, "%v", err)
		}
		if len(line) == 0 {
			if !complete {
				return rec, nil // the end
			}
			return damage(n, "empty line")
		}
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			if !complete {
				return damage(n, "truncated (the file ends inside this event)")
			}
			return damage(n, "not an event: %v", err)
		}
		switch {
		case e.Ev.Type == "":
			return damage(n, "an event without a type")
		case e.T < 0:
			return damage(n, "negative time offset %d", e.T)
		case len(rec.Events) > 0 && e.T < rec.Events[len(rec.Events)-1].T:
			return damage(n, "time goes backwards (%v after %v)", e.T, rec.Events[len(rec.Events)-1].T)
		}
		rec.Events = append(rec.Events, e)
	}
}

// readLine reads one line without its newline; complete says the newline
// was there. A line over MaxLine is an error.
func readLine(br *bufio.Reader) (line []byte, complete bool, err error) {
	var buf bytes.Buffer
	for {
		chunk, err := br.ReadSlice('\n')
		if buf.Len()+len(chunk) > MaxLine+1 {
			return nil, false, fmt.Errorf("line longer than the limit of %d bytes", MaxLine)
		}
		buf.Write(chunk)
		switch {
		case err == nil:
			b := buf.Bytes()
			return bytes.TrimSuffix(b[:len(b)-1], []byte("\r")), true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return buf.Bytes(), false, nil
		default:
			return nil, false, fmt.Errorf("read: %w", err)
		}
	}
}
