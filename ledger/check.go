package ledger

import (
	"context"
	"time"

	"github.com/publicmask/publicmask"
)

// Check tells, recording nothing, what the sale in req would get: the same
// parsing, the same time rules and the same judgement as Sell, from the
// committed state (a sale racing it may still change the answer). TxnID may
// be left out; one that is given is refused as the sale would refuse it,
// but it is not looked up (a replay is not told apart). For a late sale,
// Eligible false with a Reason means it would be recorded but flagged with
// that reason.
func (l *Ledger) Check(ctx context.Context, req SaleRequest) (*CheckResult, error) {
	if req.TxnID != "" {
		if err := CheckTxnID("txn_id", req.TxnID); err != nil {
			return nil, err
		}
	}
	by := l.outcomeBy(ctx, time.Now()) // as a sale's (sell)
	if time.Until(by) <= 0 {
		return nil, errNoTimeLeft // as a sale's (submit)
	}
	p, err := l.prepare(ctx, req, by)
	if err != nil {
		return nil, err
	}
	var v verdict
	if p.late {
		// Rare: judged inside the writer, against the suspension history
		// and usage exactly as the sale would read them; nothing is written.
		err := l.submit(ctx, &op{kind: "check", outlet: req.Outlet, by: by, run: func(tx publicmask.Tx, b *batch) error {
			o, err := b.outlet(tx, req.Outlet)
			if err != nil {
				return reject(err)
			}
			suspended, err := tx.SuspendedAt(o.Code, p.at)
			if err != nil {
				return err
			}
			usage, err := tx.PersonWeeks(p.week, keysOf(p.ps))
			if err != nil {
				return err
			}
			v = p.judge(o, suspended, usage)
			return nil
		}, reads: p.weekReads})
		if err != nil {
			return nil, err
		}
	} else {
		// Read within the wait a sale's outcome has (boundedRead): a
		// stalled store gets the check 503 store_unavailable in time, as
		// it would the sale.
		var o publicmask.Outlet
		var usage map[string]publicmask.PersonWeek
		err := l.boundedRead(ctx, func(ctx context.Context) (err error) {
			if o, err = l.store.Outlet(ctx, req.Outlet); err != nil {
				return err
			}
			usage, err = l.store.PersonWeeks(ctx, p.week, keysOf(p.ps))
			return err
		})
		if err != nil {
			return nil, err
		}
		v = p.judge(&o, o.Suspended, usage)
	}
	res := &CheckResult{Eligible: true, Persons: p.persons(v), Late: p.late}
	switch {
	case v.refusal != nil:
		if publicmask.ErrorCode(v.refusal) == publicmask.EBadRequest {
			return nil, v.refusal
		}
		res.Eligible = false
		r := publicmask.ErrorCode(v.refusal)
		res.Reason = &r
	case len(v.reasons) > 0:
		res.Eligible = false
		r := v.reasons[0]
		res.Reason = &r
		res.ConflictReasons = v.reasons
	}
	return res, nil
}
