package ledger

import (
	"context"
	"time"

	"github.com/publicmask/publicmask"
)

// A request's answer is due by a time counted from its arrival, however
// long it waited before it reached the ledger (DESIGN.md §4: the server
// answers before the counter's own 3 s cutoff). The HTTP layer sets it when
// it reads the request; the ledger's waits for the request end by then, as
// well as within OutcomeWait of their start.

// DueKey is the context key under which a request's context may carry a
// Due. The HTTP layer answers it from the request's own record, so that
// the sale path needs no context of its own for it (a context with a
// deadline costs a timer and three allocations a request).
type DueKey struct{}

// Due is what a context carries under DueKey: when the request's answer
// is due (zero: no bound beyond OutcomeWait).
type Due interface{ Due() time.Time }

// outcomeBy is when a wait that starts at from ends for the request of
// ctx: OutcomeWait later, or sooner when the request's answer is due
// sooner (its Due, or ctx's deadline).
func (l *Ledger) outcomeBy(ctx context.Context, from time.Time) time.Time {
	by := from.Add(l.cfg.OutcomeWait)
	if d, ok := ctx.Value(DueKey{}).(Due); ok {
		if t := d.Due(); !t.IsZero() && t.Before(by) {
			by = t
		}
	}
	if t, ok := ctx.Deadline(); ok && t.Before(by) {
		by = t
	}
	return by
}

// errStoreLate answers a request whose read of the store did not end in
// time (boundedRead).
var errStoreLate = publicmask.Errorf(publicmask.EStoreUnavailable, "the store did not answer in time; retry shortly")

// boundedRead runs read, a read of the store for the request of ctx,
// within the wait its outcome would have (outcomeBy): a stalled store
// (a partitioned PostgreSQL, whose reads end only with their context or
// a new connection's timeout, one read after the other) gets the request
// 503 store_unavailable before the counter's cutoff. A read on the sale
// path never comes here.
func (l *Ledger) boundedRead(ctx context.Context, read func(context.Context) error) error {
	rctx, cancel := context.WithDeadline(ctx, l.outcomeBy(ctx, time.Now()))
	err := read(rctx)
	cancel()
	if err != nil && rctx.Err() != nil && ctx.Err() == nil {
		return errStoreLate
	}
	return err
}
