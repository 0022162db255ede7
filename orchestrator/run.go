package orchestrator

import (
	"context"

	"dcres/protocol"
)

// machine is what run drives: a protocol state machine.
type machine interface {
	Start() []protocol.Msg
	Step(protocol.Reply) []protocol.Msg
	Done() bool
}

// performFunc carries out one message on its host. It runs on its own
// goroutine; the func it returns (if any) applies the result to the driver's
// state and is called on run's goroutine, so drivers need no locks of their
// own for it.
// For a pre-copy round it also returns what the host reported.
type performFunc func(ctx context.Context, m protocol.Msg) (apply func(), round roundStat, err error)

// roundStat is a host's report of a pre-copy round: the bytes still dirty,
// and the bytes saved and the seconds it took (its save rate).
type roundStat struct {
	dirty, saved int64
	seconds      float64
}

type outcome struct {
	msg   protocol.Msg
	apply func()
	round roundStat
	err   error
}

// run drives m to its end: every message is performed concurrently, every
// reply fed back in arrival order; the machine's Err says how it ended.
// Cancelling ctx does not abandon the
// machine: messages already sent still get their replies (errors, if their
// calls are cancelled), so the machine always reaches its clean-up steps.
func run(ctx context.Context, m machine, perform performFunc, onStep func(protocol.Msg, error)) {
	results := make(chan outcome)
	inflight := 0
	launch := func(msgs []protocol.Msg) {
		for _, msg := range msgs {
			inflight++
			go func() {
				// Clean-up steps must run even when the caller gave up.
				mctx := ctx
				if msg.Kind == protocol.Resume || msg.Kind == protocol.Abort || msg.Kind == protocol.Rollback || msg.Kind == protocol.Discard {
					mctx = context.WithoutCancel(ctx)
				}
				apply, round, err := perform(mctx, msg)
				results <- outcome{msg, apply, round, err}
			}()
		}
	}
	launch(m.Start())
	for inflight > 0 {
		o := <-results
		inflight--
		if o.apply != nil {
			o.apply()
		}
		if onStep != nil {
			onStep(o.msg, o.err)
		}
		launch(m.Step(protocol.Reply{From: o.msg.To, Kind: o.msg.Kind, Err: o.err,
			Dirty: o.round.dirty, Saved: o.round.saved, Seconds: o.round.seconds}))
	}
}
