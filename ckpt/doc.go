// Package ckpt is the on-disk checkpoint format of dcres: piece files (one
// host's saved pages with their gfns and per-chunk digests), the manifest
// (the checkpoint's commit record) and the per-host checkpoint directory
// store that implements the local half of the two-phase commit.
//
// It does file I/O only, never network I/O. Every length read from a file is
// bounded before it is used, so a corrupt or hostile file yields an error that
// names the file and byte range, never a panic or a huge allocation. The byte
// layout is documented in FORMAT.md next to this file.
package ckpt
