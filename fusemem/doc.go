// Package fusemem serves guest RAM nodes as files on a FUSE mount, so that an
// unmodified QEMU can map a NUMA node's memory-backend-file whose pages really
// live on other hosts.
//
// QEMU mmaps DIR/files/NAME with share=on; the kernel turns first touches into
// FUSE READs, which this package answers from the node's Backend (the pages'
// homes), and turns dirty pages into WRITEs (writeback), which go back to the
// Backend, or, during FlushTo, to a checkpoint sink. The server side can also
// force writeback (Flush), drop ranges from the kernel cache (Evict) and
// prefill the cache (Push).
//
// Measured facts this package leans on (see the project's FINDINGS): files are
// opened with keep-cache and never direct_io (QEMU cannot map a direct_io
// file); fsync delivers exactly the dirtied pages; notify_inval_inode writes
// dirty pages back before dropping them; if the server dies, QEMU gets SIGBUS
// on its next fault. The files live in a directory that exists only inside the
// mount, so a QEMU started before the mount is up fails instead of silently
// creating a file of zeros on the underlying disk.
//
// Never touch a node's mmap from the serving process: a page fault is not a
// syscall, so the faulting thread blocks the Go runtime's stop-the-world
// while the goroutines that would answer the fault are stopped (deadlock).
// Use pread/pwrite, or another process (QEMU; the tests use a child).
//
// Mounting needs root (go-fuse mounts with mount(2) directly; there is no
// fusermount).
package fusemem
