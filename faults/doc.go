// Package faults is dcres's fault matrix: integration tests that break a
// real lab (agent processes, SSH, a synthetic guest) at every phase of a
// checkpoint and a restore — SIGKILL, injected failures, a killed
// coordinator, a full disk, corrupted files — and check what the user sees,
// what is left on disk, and that every earlier checkpoint still verifies and
// restores. The matrix writes its findings to docs/faults.md (see Table).
//
// Run it with `go test -run IntegrationFault ./faults` (root, a few minutes);
// `-faults.doc=../docs/faults.md` also regenerates the table.
package faults
