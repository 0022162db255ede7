// Package pager holds guest pages on the hosts of a split-memory VM and moves
// them on demand.
//
// A Store is the memory of one host: the pages it is home for, in an
// anonymous mapping sized to the guest (so only held pages cost memory and no
// page data lives on the Go heap), with a presence bitmap and a written-since
// bitmap for live checkpoints. Locations is the location table: one byte per
// page naming the page's home. A Pager runs on the main host: it hands pages to
// the guest, reading local ones straight from the local Store and faulting
// remote ones into a bounded cache (CLOCK eviction, dirty victims written
// home in batches) through a Remote, which the host agent implements over its
// peer links.
package pager
