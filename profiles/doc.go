// Package profiles loads, validates and ships dcres profiles: YAML files that
// describe a cluster (a local lab or real hosts over SSH), one split-memory
// VM, the checkpoint and restore policies, and an optional scenario of steps
// that scripts and teaching labs replay.
//
// Every problem is reported as an *Error carrying FILE:LINE:COL, the key
// path, what is wrong and what is allowed, so a person can fix the file
// without reading this code. Several problems in one file come back together
// as an ErrorList. Defaults are filled in, so a loaded Profile is complete.
//
// The shipped profiles (lab-local, lab-netns) are embedded in the binary;
// docs/profiles.md documents every key and is checked against the loader's
// schema by a test.
package profiles
