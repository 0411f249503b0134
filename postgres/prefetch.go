package postgres

import (
	"cmp"
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
	codes = slices.Compact(codes)
	var keys []publicmask.IdemKey
	for _, k := range r.Idem {
		if _, ok := t.idem[k]; !ok {
			t.idem[k] = nil
			keys = append(keys, k)
		}
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
	if len(codes)+len(keys)+len(pws) == 0 {
		return nil
	}
	if len(codes) > 0 {
		t.queueLockOutlets(codes)
	}
	if len(keys) > 0 {
		t.queueIdemGets(keys)
	}
	found := make(map[pwKey]publicmask.PersonWeek, len(pws))
	if len(pws) > 0 {
		t.queuePWLocks(pws, found)
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

// Each statement below reads many keys given as arrays, joined to the
// table's primary key (a nested loop over index look-ups); locking reads
// return, and so lock, their rows in the order of the arrays (ORDER BY the
// ordinality; the locks are taken above the sort).
const (
	sqlLockOutlets = `SELECT ` + outletColsO + ` FROM unnest($1::text[]) WITH ORDINALITY AS k(code, n)
		JOIN outlets o ON o.code = k.code ORDER BY k.n FOR UPDATE OF o`
	sqlIdemGets = `SELECT i.outlet, i.txn_id, i.body_hash, i.response, i.created_at
		FROM unnest($1::text[], $2::text[]) AS k(outlet, txn_id)
		JOIN idempotency i ON i.outlet = k.outlet AND i.txn_id = k.txn_id`
	sqlPWLocks = `SELECT p.week, p.person, p.quantity, p.purchases, p.weekday_purchases, p.weekend_purchases
		FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(week, person, n)
		JOIN person_weeks p ON p.week = k.week AND p.person = k.person ORDER BY k.n FOR UPDATE OF p`
	outletColsO = `o.code, o.name, o.addr, o.type, o.lat, o.lng, o.stock, o.suspended, o.stock_at, o.updated_at, o.version, o.sold`
)

// queueLockOutlets locks codes (sorted) and caches the rows; codes without
// a row are cached as absent.
func (t *tx) queueLockOutlets(codes []string) {
	t.queue(sqlLockOutlets, codes).Query(func(rows pgx.Rows) error {
		defer rows.Close()
		for rows.Next() {
			o, err := scanOutlet(rows)
			if err != nil {
				return err
			}
			t.outlets[o.Code] = &outletState{o: o, found: true}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, c := range codes {
			if _, ok := t.outlets[c]; !ok {
				t.outlets[c] = &outletState{o: publicmask.Outlet{Code: c}}
			}
		}
		return nil
	})
}

// queueIdemGets reads the idempotency records of keys into t.idem.
func (t *tx) queueIdemGets(keys []publicmask.IdemKey) {
	outlets, txns := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		outlets[i], txns[i] = k.Outlet, k.TxnID
	}
	t.queue(sqlIdemGets, outlets, txns).Query(func(rows pgx.Rows) error {
		defer rows.Close()
		for rows.Next() {
			var r publicmask.IdemRecord
			var created pgtype.Timestamptz
			if err := rows.Scan(&r.Outlet, &r.TxnID, &r.BodyHash, &r.Response, &created); err != nil {
				return err
			}
			r.CreatedAt = fromTstz(created)
			t.idem[publicmask.IdemKey{Outlet: r.Outlet, TxnID: r.TxnID}] = &r
		}
		return rows.Err()
	})
}

// queuePWLocks locks the person-week rows of keys (sorted) into found.
func (t *tx) queuePWLocks(keys []pwKey, found map[pwKey]publicmask.PersonWeek) {
	weeks, persons := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		weeks[i], persons[i] = k.week, k.person
	}
	t.queue(sqlPWLocks, weeks, persons).Query(func(rows pgx.Rows) error {
		defer rows.Close()
		for rows.Next() {
			var pw publicmask.PersonWeek
			if err := rows.Scan(&pw.Week, &pw.Person, &pw.Quantity, &pw.Purchases, &pw.WeekdayPurchases, &pw.WeekendPurchases); err != nil {
				return err
			}
			found[pwKey{pw.Person, pw.Week}] = pw
		}
		return rows.Err()
	})
}
