// Package hostagent is the small program that runs on every host of a
// split-memory VM. It serves the dcres RPC over SSH to the operator (the
// console or a script) and to the peer agents the operator introduced, and
// it owns this host's part of every VM: the page store of the pages it is
// home for, its checkpoint directory, and, on the main host, the guest and
// the pager that faults remote pages in from their homes.
//
// Page data only ever moves agent to agent over peer links; the operator's
// connection carries control messages and figures.
package hostagent
