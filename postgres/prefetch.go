package postgres

import (
	"cmp"
	"errors"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/publicmask/publicmask"
)

var _ publicmask.Prefetcher = (*tx)(nil)

// Prefetch implements publicmask.Prefetcher: one round trip locks the
// batch's outlets in code order, then reads its idempotency records, then
// locks its person-week rows in (week, person) order. Every batch, on every
// node, takes its locks in that one order, so batches cannot deadlock on
// them. The idempotency reads come after the outlet locks in the same
// pipeline: a request racing another with the same txn_id on another node
// waits for that outlet and then sees the first answer (see Idempotency).
// Rows this transaction already knows are not read again.
func (t *tx) Prefetch(r publicmask.BatchReads) error {
	if t.err != nil {
		return t.err
	}
	var codes []string
	for _, c := range r.Outlets {
		if _, ok := t.outlets[c]; !ok {
			codes = append(codes, c)
		}
	}
	for _, k := range r.Idem {
		if _, ok := t.outlets[k.Outlet]; !ok {
			codes = append(codes, k.Outlet)
		}
	}
	slices.Sort(codes)
	for _, c := range slices.Compact(codes) {
		t.queueLockOutlet(c)
	}
	queued := len(codes) > 0
	for _, k := range r.Idem {
		if _, ok := t.idem[k]; ok {
			continue
		}
		t.idem[k] = nil
		t.queueIdemGet(k)
		queued = true
	}
	var pws []pwKey
	for week, persons := range r.PersonWeeks {
		for _, p := range persons {
			if _, known := t.pw[pwKey{p, week}]; !known {
				pws = append(pws, pwKey{p, week})
			}
		}
	}
	slices.SortFunc(pws, func(a, b pwKey) int { return cmp.Or(cmp.Compare(a.week, b.week), cmp.Compare(a.person, b.person)) })
	pws = slices.Compact(pws)
	found := make(map[pwKey]publicmask.PersonWeek, len(pws))
	for _, k := range pws {
		t.queue(sqlPWLock, k.week, k.person).QueryRow(func(row pgx.Row) error {
			pw := publicmask.PersonWeek{Week: k.week}
			err := row.Scan(&pw.Person, &pw.Quantity, &pw.Purchases, &pw.WeekdayPurchases, &pw.WeekendPurchases)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			found[k] = pw
			return nil
		})
		queued = true
	}
	if !queued {
		return nil
	}
	if err := t.send(); err != nil {
		return err
	}
	for _, k := range pws {
		pw, ok := found[k]
		t.pw[k] = ok
		if ok {
			t.pwRows[k] = pw
		}
	}
	return nil
}

// queueIdemGet queues the read of one idempotency record into t.idem.
func (t *tx) queueIdemGet(k publicmask.IdemKey) {
	t.queue(sqlIdemGet, k.Outlet, k.TxnID).QueryRow(func(row pgx.Row) error {
		r := publicmask.IdemRecord{Outlet: k.Outlet, TxnID: k.TxnID}
		var created pgtype.Timestamptz
		err := row.Scan(&r.BodyHash, &r.Response, &created)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		r.CreatedAt = fromTstz(created)
		t.idem[k] = &r
		return nil
	})
}
