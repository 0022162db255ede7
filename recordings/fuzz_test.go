package recordings

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzRead feeds arbitrary bytes to Read: it must not panic, a damage must
// name a body line, and whatever it reads must write and read back the same.
func FuzzRead(f *testing.F) {
	whole := encode(f, sampleHeader, sampleEvents())
	f.Add(whole)
	f.Add(whole[:len(whole)/2])
	f.Add([]byte(`{"format":"dcres-recording","version":2}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := Read(bytes.NewReader(data))
		if rec == nil {
			if err == nil {
				t.Fatal("no recording and no error")
			}
			return
		}
		var de *DamageError
		if err != nil && (!errors.As(err, &de) || de.Line < 2 || len(rec.Events) != de.Line-2) {
			t.Fatalf("damage %v with %d events", err, len(rec.Events))
		}
		again, err := Read(bytes.NewReader(encode(t, rec.Header, rec.Events)))
		if err != nil || len(again.Events) != len(rec.Events) {
			t.Fatalf("re-read: %v, %d events, want %d", err, len(again.Events), len(rec.Events))
		}
	})
}
