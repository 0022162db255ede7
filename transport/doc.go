// Package transport carries dcres connections over SSH (golang.org/x/crypto/ssh)
// on both sides: a Server for host agents that hands every "dcres" channel to
// the agent together with the identity of the key that authenticated, and a
// Client for the console and for agents dialing their peers, which can open
// "dcres" channels or run `dcres agent --stdio` behind OpenSSH's sshd.
//
// Trust is explicit. The server accepts only keys its Authorize function maps
// to an Identity; the client verifies host keys strictly against known_hosts
// or a pinned key. Errors are one line naming the address and what to do.
package transport
