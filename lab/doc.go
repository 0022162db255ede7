// Package lab runs a split-memory lab on one machine: one host agent per
// host of a profile, each a separate process with its own data directory
// and SSH host key, and the keys and known_hosts the coordinator needs to
// reach them. Everything is torn down on Close.
//
// A loopback lab runs the agents on 127.0.0.1 ports. A netns lab (profile
// netns: true, run as root) puts every agent in its own network namespace,
// joined by a veth pair to a bridge in the root namespace, with each link
// shaped by tc tbf in both directions to the profile's link rate; the
// coordinator and the agents' peer links all cross the bridge, so page
// traffic pays the link's bandwidth. Such labs are recorded under
// /run/dcres/netns, and a lab whose owner died is removed by the next
// lab's Start. The Lab's fault hooks (CutLink, RestoreLink, SetLinkRate,
// Kill) let tests break a host the way a network or a crash would.
package lab
