// Package protocol holds the D-CRES coordination protocol as state machines
// that do no I/O, in the manner of etcd-io/raft: the caller feeds each machine
// the replies of hosts and performs the messages the machine returns. Pure
// machines can be driven by deterministic simulations with seeded schedules
// of replies and failures, and the coordinator that drives them over SSH is
// only plumbing.
//
// A checkpoint runs: pause the guest on the main host; every host saves its
// piece under a partial name, in parallel; resume as soon as every save has
// returned; then two-phase commit (commit on every host, or abort on every
// host; a commit that fails on any host rolls back the hosts that committed).
//
// A restore runs: stop the current guest; every target host loads its share
// in parallel; start the guest only if every load succeeded, otherwise discard
// what was loaded and leave the guest stopped.
package protocol
