package main

import (
	"testing"

	"dcres/profiles"
)

func TestAgentCommand(t *testing.T) {
	for _, c := range []struct {
		h    profiles.Host
		want string
	}{
		{profiles.Host{Name: "sub1", Data: "/var/lib/dcres", Command: "dcres agent --stdio"}, "dcres agent --stdio --name sub1 --data /var/lib/dcres"},
		{profiles.Host{Name: "sub1", Data: "~/dcres data", Command: "dcres agent --stdio"}, "dcres agent --stdio --name sub1 --data ~/'dcres data'"},
		{profiles.Host{Name: "main", Data: "/d", Command: "dcres agent --stdio --name=main --data /x"}, "dcres agent --stdio --name=main --data /x"},
		{profiles.Host{Name: "main", Data: "/it's", Command: "dcres agent --stdio"}, `dcres agent --stdio --name main --data '/it'\''s'`},
		{profiles.Host{Name: "main", Data: "/d", Command: ""}, ""}, // the agent's own SSH server
	} {
		if got := agentCommand(c.h); got != c.want {
			t.Errorf("agentCommand(%+v) = %q, want %q", c.h, got, c.want)
		}
	}
}
