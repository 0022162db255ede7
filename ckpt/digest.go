package ckpt

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/zeebo/xxh3"
)

// digestLen is the size of a stored xxh3-128 digest.
const digestLen = 16

type digest [digestLen]byte

func (d digest) String() string { return hex.EncodeToString(d[:]) }

func sum128(b []byte) digest { return xxh3.Hash128(b).Bytes() }

// HashFile returns the hex xxh3-128 digest of a file's contents and its size,
// as recorded for device state files in the manifest.
func HashFile(path string) (digestHex string, bytes int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("ckpt: hash file: %w", err)
	}
	defer f.Close()
	h := xxh3.New()
	n, err := io.CopyBuffer(h, f, make([]byte, 1<<20))
	if err != nil {
		return "", n, fmt.Errorf("ckpt: hash file %s: %w", path, err)
	}
	return digest(h.Sum128().Bytes()).String(), n, nil
}
