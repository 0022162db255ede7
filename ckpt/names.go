package ckpt

import (
	"fmt"
	"strings"
)

// MaxNameLen is the longest id, vm, host or file name accepted.
const MaxNameLen = 64

// ValidName reports whether s is acceptable as a name of the given kind
// ("id", "vm", "host", "file", ...). Names become path elements and piece
// header fields, so only [A-Za-z0-9._-] is allowed, with no leading dot
// (which also rules out "." and "..") and at most MaxNameLen bytes.
func ValidName(kind, s string) error {
	if s == "" {
		return fmt.Errorf("ckpt: %s name is empty", kind)
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("ckpt: %s name %.20q... is %d bytes long; at most %d allowed", kind, s, len(s), MaxNameLen)
	}
	if s[0] == '.' {
		return fmt.Errorf("ckpt: %s name %q starts with a dot; use letters, digits, '.', '_' or '-' and no leading dot", kind, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("ckpt: %s name %q contains %q; only letters, digits, '.', '_' and '-' are allowed", kind, s, c)
		}
	}
	return nil
}

// validFileName is ValidName for files inside a checkpoint directory, which
// additionally must not collide with the store's own bookkeeping names.
func validFileName(s string) error {
	if err := ValidName("file", s); err != nil {
		return err
	}
	if s == manifestName || strings.HasSuffix(s, partialSuffix) || strings.HasSuffix(s, tmpSuffix) {
		return fmt.Errorf("ckpt: file name %q is reserved by the checkpoint store (%s, *%s, *%s)", s, manifestName, partialSuffix, tmpSuffix)
	}
	return nil
}
