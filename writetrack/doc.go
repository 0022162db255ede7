// Package writetrack tracks the pages another process writes in one of its
// shared mappings, without that process's help: an asynchronous
// userfaultfd write-protect registration over the mapping, read and re-armed
// by one PAGEMAP_SCAN per round (Linux 6.7 and later).
//
// The userfaultfd must belong to the target's address space, so the tracker
// has the target create it: a helper process (this program run again; see
// MaybeHelper) stops one thread of the target under ptrace for a few
// milliseconds, runs userfaultfd(2) in it, the tracker takes the descriptor
// with pidfd_getfd(2), and the helper closes the target's copy and lets the
// thread go. From
// then on the target runs unhindered: the kernel clears a page's protection
// on its first write (one extra minor fault per page per round) and the scan
// reports exactly the pages so cleared.
//
// It is how the agent sees writes to the main host's /dev/shm node, which
// QEMU writes directly and no pager is in the way of. It must not be used
// together with QEMU's own postcopy or background snapshots, which register
// their own userfaultfd on the same memory.
package writetrack
