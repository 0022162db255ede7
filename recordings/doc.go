// Package recordings writes, reads, replays, summarizes and exports dcres
// session recordings.
//
// A recording is versioned JSON lines: a Header line, then one Entry per
// api.Event with its offset from the start on the recorder's monotonic clock.
// Replays (Player) implement api.Controller read-only and api.Player, so the
// console shows a recording with the same views as a live session.
//
// No secrets: the writer takes only api.Event values, which carry figures,
// ids, host names and addresses, and protocol messages, never keys, tokens
// or passwords. Messages are scrubbed defensively anyway: anything that looks
// like key material (a PEM block, an OpenSSH or base64 key blob) is replaced
// by "[redacted]", and absolute file system paths are cut to their last
// element, so a recording names nothing of the machine that made it.
package recordings
