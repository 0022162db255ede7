package protocol

import (
	"fmt"
	"sort"
	"strings"
)

// Kind names what a message asks a host to do.
type Kind string

// Checkpoint messages.
const (
	Round    Kind = "round"    // every saver (live): save pages while the guest runs
	Pause    Kind = "pause"    // main: pause the guest and quiesce paging
	Save     Kind = "save"     // every saver: write its piece under a partial name
	Resume   Kind = "resume"   // main: resume the guest (idempotent)
	Protect  Kind = "protect"  // every saver: copy its piece to other hosts (redundancy), guest running
	Commit   Kind = "commit"   // every saver: rename partials, write the manifest
	Abort    Kind = "abort"    // every saver: remove partial files (idempotent)
	Rollback Kind = "rollback" // every saver: delete the checkpoint, committed or partial
)

// Restore messages.
const (
	Stop    Kind = "stop"    // main: stop the current guest; others: drop the VM's pages
	Load    Kind = "load"    // every target: load its share (local piece and pulls)
	Start   Kind = "start"   // main: rebuild the guest from the loaded state and run it
	Discard Kind = "discard" // a target: drop what it loaded (the checkpoint stays)
	Settle  Kind = "settle"  // lazy: a home: wait until its background load is done
	Halt    Kind = "halt"    // lazy: main: stop the guest, a home failed to load
)

// Msg is one request to one host.
type Msg struct {
	To   string
	Kind Kind
}

func (m Msg) String() string { return string(m.Kind) + "->" + m.To }

// Reply is a host's answer to a Msg. Err nil means success. For a Round,
// Dirty is the bytes the host holds that changed since it saved them, and
// Saved and Seconds what the round saved and how long that took: the host's
// save rate, from which the final pause is foreseen.
type Reply struct {
	From    string
	Kind    Kind
	Err     error
	Dirty   int64
	Saved   int64
	Seconds float64
}

// HostError is the failure of one host in one step.
type HostError struct {
	Host string
	Kind Kind
	Err  error
}

func (e HostError) Error() string { return fmt.Sprintf("%s on %s: %v", e.Kind, e.Host, e.Err) }

// Errors is every host failure of one operation, in a stable order.
type Errors []HostError

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

func (es Errors) sorted() Errors {
	out := append(Errors(nil), es...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}

// outbox tracks the messages a machine has sent and not yet had answered, so
// that a machine knows when it is quiet and refuses replies it never asked for.
type outbox struct {
	pending map[Msg]bool
}

func (o *outbox) send(out *[]Msg, m Msg) {
	if o.pending == nil {
		o.pending = map[Msg]bool{}
	}
	o.pending[m] = true
	*out = append(*out, m)
}

// take records that m was answered; false when m was not outstanding.
func (o *outbox) take(r Reply) bool {
	m := Msg{To: r.From, Kind: r.Kind}
	if !o.pending[m] {
		return false
	}
	delete(o.pending, m)
	return true
}

func (o *outbox) empty() bool { return len(o.pending) == 0 }

// has reports whether a message of kind k is still unanswered.
func (o *outbox) has(k Kind) bool {
	for m := range o.pending {
		if m.Kind == k {
			return true
		}
	}
	return false
}
