// Package orchestrator is the D-CRES coordinator. A Session connects to the
// host agents of one VM over SSH, sets the VM up, and runs checkpoints and
// restores by driving the state machines of package protocol: it performs
// their messages as RPCs to the agents, in parallel, and feeds the replies
// back. It publishes what happens as api.Events and implements
// api.Controller, the one API behind both the console and scripted mode.
package orchestrator
