package ckpt

import "fmt"

// Fault is one problem found in a checkpoint file: which file, which bytes,
// and what is wrong with them. Fault is also an error, so the readers return
// it directly and callers can errors.As it.
type Fault struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	Reason string `json:"reason"`
}

func (f Fault) Error() string {
	if f.Offset == 0 && f.Length == 0 {
		return fmt.Sprintf("ckpt: %s: %s", f.File, f.Reason)
	}
	return fmt.Sprintf("ckpt: %s: bytes [%d, %d): %s", f.File, f.Offset, f.Offset+f.Length, f.Reason)
}

func fault(file string, off, length int64, format string, args ...any) Fault {
	return Fault{File: file, Offset: off, Length: length, Reason: fmt.Sprintf(format, args...)}
}
