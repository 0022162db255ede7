package profiles

import (
	"fmt"
	"strings"
)

// Error is one problem in a profile, with its place in the file.
type Error struct {
	File      string
	Line, Col int
	// Path names the key, e.g. "vm.memory" or "scenario[2].restore.from".
	Path string
	// Msg says what is wrong; Allowed, when set, what would be right.
	Msg, Allowed string
}

// Error renders "FILE:LINE:COL: PATH: MSG; allowed: ALLOWED".
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: ", e.File, e.Line, e.Col)
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	if e.Allowed != "" {
		b.WriteString("; allowed: " + e.Allowed)
	}
	return b.String()
}

// ErrorList is every problem found in one profile, in file order of
// discovery. errors.As finds its first *Error.
type ErrorList []*Error

// Error renders one problem per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is and errors.As see each problem.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}
