// Package rpc carries framed, multiplexed requests, responses and events over
// any io.ReadWriteCloser: an SSH channel, the stdio of `ssh host dcres agent
// --stdio`, or a peer link between agents.
//
// Every frame is a 12-byte prefix (magic "dcr1", JSON header length, payload
// length, both big-endian uint32), a JSON header (id, kind, method, error,
// body) and a binary payload. Page data travels in payloads, never in JSON.
// Lengths are checked against bounds before anything is allocated, so a
// corrupt or hostile peer gets an error, not a big allocation.
//
// Both ends of a Conn are symmetric: each may Call the other, serve the
// other's requests with its Handler, and send events with Notify. Requests
// are served concurrently (at most MaxInFlight at a time per Conn); events
// are delivered to OnEvent one at a time in the order they were sent.
package rpc
