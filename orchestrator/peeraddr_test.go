package orchestrator

import (
	"testing"

	"dcres/agentrpc"
)

func TestPeerAddr(t *testing.T) {
	for _, c := range []struct {
		spec HostSpec
		info string
		want string
	}{
		{HostSpec{Addr: "10.0.0.2:2222"}, "127.0.0.1:2222", "10.0.0.2:2222"},                             // the agent's own server
		{HostSpec{Addr: "10.0.0.2:22", PeerAddr: "10.1.0.2:2222"}, "0.0.0.0:2222", "10.1.0.2:2222"},      // named
		{HostSpec{Addr: "10.0.0.2:22", Command: "dcres agent --stdio"}, "0.0.0.0:2300", "10.0.0.2:2300"}, // behind sshd
		{HostSpec{Addr: "[fd00::2]:22", Command: "x"}, "[::]:2300", "[fd00::2]:2300"},
		{HostSpec{Addr: "h2:22", Command: "x"}, ":2300", "h2:2300"},
		{HostSpec{Addr: "127.0.0.1:40022", Command: "x"}, "127.0.0.1:41000", "127.0.0.1:41000"},
		{HostSpec{Addr: "10.0.0.2:22", Command: "x"}, "", "10.0.0.2:22"}, // an older agent
	} {
		if got := peerAddr(c.spec, agentrpc.InfoResult{PeerAddr: c.info}); got != c.want {
			t.Errorf("peerAddr(%+v, %q) = %q, want %q", c.spec, c.info, got, c.want)
		}
	}
}
