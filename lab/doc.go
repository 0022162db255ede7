// Package lab runs a split-memory lab on one machine: one host agent per
// host of a profile, each a separate process with its own data directory,
// SSH host key and port on loopback, and the keys and known_hosts the
// coordinator needs to reach them. Everything is torn down on Close.
package lab
