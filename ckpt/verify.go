package ckpt

import "errors"

// Verify checks every chunk (digest and structure) and returns every fault
// found, or nil when the piece is sound. It reads the whole file.
func (r *PieceReader) Verify() []Fault {
	var faults []Fault
	r.batches(func(int) bool { return true }, func(i int, b []byte, err error) error {
		if err == nil {
			_, err = r.checkChunk(i, b)
		}
		if err != nil {
			faults = append(faults, asFault(r.name, err))
		}
		return nil
	})
	return faults
}

// VerifyPiece opens and verifies the piece at path; a file that cannot be
// opened is reported as a fault too.
func VerifyPiece(path string) (PieceInfo, []Fault) {
	r, err := OpenPiece(path)
	if err != nil {
		return PieceInfo{}, []Fault{asFault(path, err)}
	}
	defer r.Close()
	return r.Info(), r.Verify()
}

func asFault(file string, err error) Fault {
	var f Fault
	if errors.As(err, &f) {
		return f
	}
	return Fault{File: file, Reason: err.Error()}
}
