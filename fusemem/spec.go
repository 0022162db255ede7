package fusemem

import (
	"context"
	"errors"
	"fmt"
)

// PageSize is the unit of every Backend transfer.
const PageSize = 4096

// Backend is where a node's pages really live. Offsets are bytes into the
// node; this package only ever passes page-aligned offsets and lengths that
// are whole pages.
type Backend interface {
	// ReadAt fills p with the pages at off (fetched from their homes).
	ReadAt(ctx context.Context, p []byte, off int64) error
	// WriteAt stores p at off; p is newer than the home's copy.
	WriteAt(ctx context.Context, p []byte, off int64) error
}

// NodeSpec describes one RAM node served as DIR/files/Name.
type NodeSpec struct {
	Name    string // file name: letters, digits, '.', '_', '-'; not "." or ".."
	Size    int64  // bytes, a positive multiple of PageSize
	Backend Backend
}

// Options tune a Mount. The zero value is usable.
type Options struct {
	// MaxWrite is the largest READ/WRITE the kernel sends (default 1 MiB,
	// which also lets readahead fetch 1 MiB at a time).
	MaxWrite int
	// Logf receives diagnostics; nil discards them.
	Logf func(format string, args ...any)
	// OnError is told about every failed Backend or sink transfer, before the
	// kernel gets EIO (for a READ, QEMU then dies with SIGBUS), so the agent
	// can report which node and range failed.
	OnError func(node string, off int64, err error)
}

// Stats counts one node's traffic since the mount.
type Stats struct {
	Reads, ReadBytes, Writes, WriteBytes, Errors uint64
}

const defaultMaxWrite = 1 << 20

func validName(s string) error {
	if s == "" || s == "." || s == ".." || len(s) > 255 {
		return fmt.Errorf("fusemem: invalid node name %q: want 1-255 of [A-Za-z0-9._-], not . or ..", s)
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("fusemem: invalid node name %q: character %q not allowed (use [A-Za-z0-9._-])", s, r)
		}
	}
	return nil
}

func validateSpecs(nodes []NodeSpec) error {
	if len(nodes) == 0 {
		return errors.New("fusemem: no nodes to serve")
	}
	seen := map[string]bool{}
	for _, n := range nodes {
		if err := validName(n.Name); err != nil {
			return err
		}
		if seen[n.Name] {
			return fmt.Errorf("fusemem: node name %q given twice", n.Name)
		}
		seen[n.Name] = true
		if n.Size <= 0 || n.Size%PageSize != 0 {
			return fmt.Errorf("fusemem: node %q: size %d is not a positive multiple of %d", n.Name, n.Size, PageSize)
		}
		if n.Backend == nil {
			return fmt.Errorf("fusemem: node %q has no Backend", n.Name)
		}
	}
	return nil
}
