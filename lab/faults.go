package lab

import (
	"context"
	"fmt"
	"strconv"
)

// Fault injection for tests and demonstrations. Link faults act on the
// bridge end of a host's veth pair, in the root namespace: taking it down
// drops the carrier on both ends, so the agent's every connection (to the
// coordinator and to its peers) stalls, as a pulled cable would.

func (l *Lab) netnsHost(host, what string) (*netnsHost, error) {
	if l.netns == nil {
		return nil, fmt.Errorf("%s %s: this lab's agents share loopback; link faults need a netns lab (a profile with netns: true, run as root)", what, host)
	}
	return l.netns.host(host)
}

// CutLink takes host's link down: nothing reaches it or leaves it until
// RestoreLink.
func (l *Lab) CutLink(host string) error {
	h, err := l.netnsHost(host, "cutting the link of")
	if err != nil {
		return err
	}
	_, err = run(context.Background(), "ip", "link", "set", h.VethBr, "down")
	return err
}

// RestoreLink brings host's link back up after CutLink.
func (l *Lab) RestoreLink(host string) error {
	h, err := l.netnsHost(host, "restoring the link of")
	if err != nil {
		return err
	}
	_, err = run(context.Background(), "ip", "link", "set", h.VethBr, "up")
	return err
}

// SetLinkRate shapes host's link to bitsPerSec in both directions (0
// removes the shaping).
func (l *Lab) SetLinkRate(host string, bitsPerSec int64) error {
	if bitsPerSec < 0 {
		return fmt.Errorf("link rate of %s: %d bits/s is negative", host, bitsPerSec)
	}
	h, err := l.netnsHost(host, "shaping the link of")
	if err != nil {
		return err
	}
	return shape(context.Background(), *h, bitsPerSec)
}

// Kill sends SIGKILL to host's agent, as a crash would.
func (l *Lab) Kill(host string) error {
	for _, a := range l.agents {
		if a.name == host {
			return a.cmd.Process.Kill()
		}
	}
	return fmt.Errorf("killing the agent of %s: no such host in this lab", host)
}

// Namespace is the network namespace host's agent runs in ("" for a
// loopback lab or an unknown host).
func (l *Lab) Namespace(host string) string {
	if l.netns == nil {
		return ""
	}
	if h, err := l.netns.host(host); err == nil {
		return h.NS
	}
	return ""
}

// rateString prints a link rate for messages.
func rateString(bps int64) string {
	switch {
	case bps == 0:
		return "unshaped"
	case bps%1_000_000_000 == 0:
		return strconv.FormatInt(bps/1_000_000_000, 10) + " Gbit/s"
	case bps%1_000_000 == 0:
		return strconv.FormatInt(bps/1_000_000, 10) + " Mbit/s"
	}
	return strconv.FormatInt(bps, 10) + " bit/s"
}
