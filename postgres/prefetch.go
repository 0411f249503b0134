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
// batch's outlets in code order, reads its idempotency records, locks its
// sales in ID order (with their items) and then locks its person-week rows
// — those named and those of the sales' items — in (week, person) order.
// Every batch, on every node, takes these locks in that one order, so two
// batches whose requests lock only what they named (the ledger's ops name
// all they lock) cannot deadlock on them. What lies outside the order can,
// rarely, and Write then retries the batch (see retryable): new
// person-week rows are locked only by their INSERT (written in key order
// too, see rowBuffer.queue, but a batch that writes new rows at two points
// of its run may wait for one while holding another), and Purge deletes
// rows in no particular order. The idempotency reads come after the outlet
// locks in the same pipeline: a request racing another with the same txn_id
// on another node waits for that outlet and then sees the first answer (see
// Idempotency). Rows this transaction already knows are not read again.
func (t *tx) Prefetch(r publicmask.BatchReads) error {
	if t.err != nil {
		return t.err
	}
	codes, keys, sales, pws := t.unknown(r)
	if len(codes)+len(keys)+len(sales)+len(pws) == 0 {
		return nil
	}
	// Generic plans for the reads without cancellations (sqlPlanOnce).
	if len(codes) > 0 {
		t.queueLockOutlets(codes)
	}
	if len(keys) > 0 {
		t.queueIdemGets(keys)
	}
	found := make(map[pwKey]publicmask.PersonWeek, len(pws))
	if len(pws) > 0 && len(sales) == 0 {
		t.queuePWLocks(pws, nil, found)
	}
	got := make(map[string]*publicmask.Sale, len(sales))
	if len(sales) > 0 {
		t.queueSaleLocks(sales, got)
		t.queuePWLocks(pws, sales, found)
	}
	if err := t.send(); err != nil {
		return err
	}
	// The weeks of the sales' items, as the statement above chose them
	// (giveBack reads exactly these).
	for _, s := range got {
		t.sales[s.ID] = s
		for _, it := range s.Items {
			if k := (pwKey{it.Person, s.Week}); it.Person != "" && it.Quantity > 0 {
				if _, known := t.pw[k]; !known {
					pws = append(pws, k)
				}
			}
		}
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

// unknown is what r names that this transaction does not know yet, each
// kind sorted in its lock order: outlet codes (the idempotency records'
// outlets included), idempotency keys (marked as being read), sale ids and
// person-weeks.
func (t *tx) unknown(r publicmask.BatchReads) (codes []string, keys []publicmask.IdemKey, sales []string, pws []pwKey) {
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
	for _, k := range r.Idem {
		if _, ok := t.idem[k]; !ok {
			t.idem[k] = nil
			keys = append(keys, k)
		}
	}
	for _, id := range r.Sales {
		if _, ok := t.sales[id]; !ok {
			sales = append(sales, id)
		}
	}
	slices.Sort(sales)
	sales = slices.Compact(sales)
	for week, persons := range r.PersonWeeks {
		for _, p := range persons {
			if _, known := t.pw[pwKey{p, week}]; !known {
				pws = append(pws, pwKey{p, week})
			}
		}
	}
	slices.SortFunc(pws, func(a, b pwKey) int { return cmp.Or(cmp.Compare(a.week, b.week), cmp.Compare(a.person, b.person)) })
	pws = slices.Compact(pws)
	return codes, keys, sales, pws
}

// Each statement below reads many keys given as arrays, joined to the
// table's primary key (a nested loop over index look-ups); locking reads
// return, and so lock, their rows in the order of the arrays. The first
// three run with generic plans (see sqlPlanOnce), inside Prefetch and on
// the bulk paths alike: each key is looked up by
// a LATERAL subquery that OFFSET 0 keeps from being flattened into a join,
// so that their one plan is the nested loop from the array into the primary
// key whatever the table held when it was made; its locks are taken in the
// array's order, one row after the other.
const (
	sqlLockOutlets = `SELECT ` + outletColsO + ` FROM unnest($1::text[]) WITH ORDINALITY AS k(code, n)
		CROSS JOIN LATERAL (SELECT * FROM outlets WHERE code = k.code OFFSET 0 FOR UPDATE) AS o ORDER BY k.n`
	sqlIdemGets = `SELECT i.outlet, i.txn_id, i.body_hash, i.response, i.created_at
		FROM unnest($1::text[], $2::text[]) AS k(outlet, txn_id)
		CROSS JOIN LATERAL (SELECT * FROM idempotency WHERE outlet = k.outlet AND txn_id = k.txn_id OFFSET 0) AS i`
	sqlPWLocks = `SELECT p.week, p.person, p.quantity, p.purchases, p.weekday_purchases, p.weekend_purchases
		FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(week, person, n)
		CROSS JOIN LATERAL (SELECT * FROM person_weeks WHERE week = k.week AND person = k.person OFFSET 0 FOR UPDATE) AS p
		ORDER BY k.n`
	// The cancellations' reads below are planned for each execution (joins).
	// sqlSaleLocks locks sales (IDs sorted) and sqlSaleItems reads their
	// items, in the order Sale reads them.
	sqlSaleLocks = `SELECT ` + saleColsS + ` FROM unnest($1::text[]) WITH ORDINALITY AS k(id, n)
		JOIN sales s ON s.id = k.id ORDER BY k.n FOR UPDATE OF s`
	sqlSaleItems = `SELECT i.sale_id, i.role, i.person, i.category, i.birth_year, i.quantity
		FROM unnest($1::text[]) AS k(id) JOIN sale_items i ON i.sale_id = k.id ORDER BY i.sale_id, i.idx`
	// sqlPWLocksSales is sqlPWLocks plus the weeks of the persons of the
	// sales in $3 (the rows a cancellation gives quota back to), all
	// sorted by the server: COLLATE "C" is the byte order Go sorts by, the
	// order of every other person-week lock.
	sqlPWLocksSales = `SELECT p.week, p.person, p.quantity, p.purchases, p.weekday_purchases, p.weekend_purchases
		FROM (SELECT week, person FROM unnest($1::text[], $2::text[]) AS u(week, person)
			UNION SELECT s.week, i.person FROM unnest($3::text[]) AS x(id)
				JOIN sales s ON s.id = x.id JOIN sale_items i ON i.sale_id = s.id
				WHERE i.person <> '' AND i.quantity > 0) AS k
		JOIN person_weeks p ON p.week = k.week AND p.person = k.person
		ORDER BY k.week COLLATE "C", k.person COLLATE "C" FOR UPDATE OF p`
	saleColsS   = `s.id, s.outlet, s.txn_id, s.sold_at, s.recorded_at, s.week, s.weekend, s.quantity, s.conflict, s.late, s.shortfall, s.cancelled_at`
	outletColsO = `o.code, o.name, o.addr, o.type, o.lat, o.lng, o.stock, o.suspended, o.stock_at, o.updated_at, o.version, o.sold`
)

// queueLockOutlets locks codes (sorted) and caches the rows; codes without
// a row are cached as absent.
func (t *tx) queueLockOutlets(codes []string) {
	t.queueOnce(sqlLockOutlets, codes).Query(func(rows pgx.Rows) error {
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
	t.queueOnce(sqlIdemGets, outlets, txns).Query(func(rows pgx.Rows) error {
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

// queuePWLocks locks the person-week rows of keys (sorted) and those of the
// items of sales into found.
func (t *tx) queuePWLocks(keys []pwKey, sales []string, found map[pwKey]publicmask.PersonWeek) {
	weeks, persons := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		weeks[i], persons[i] = k.week, k.person
	}
	var q *pgx.QueuedQuery
	if len(sales) > 0 {
		q = t.queue(sqlPWLocksSales, weeks, persons, sales)
	} else {
		q = t.queueOnce(sqlPWLocks, weeks, persons)
	}
	q.Query(func(rows pgx.Rows) error {
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

// queueSaleLocks locks the sales of ids (sorted) and reads them, items
// included, into got; IDs without a row are left out.
func (t *tx) queueSaleLocks(ids []string, got map[string]*publicmask.Sale) {
	t.queue(sqlSaleLocks, ids).Query(func(rows pgx.Rows) error {
		defer rows.Close()
		for rows.Next() {
			s, err := scanSale(rows)
			if err != nil {
				return err
			}
			got[s.ID] = &s
		}
		return rows.Err()
	})
	t.queue(sqlSaleItems, ids).Query(func(rows pgx.Rows) error {
		defer rows.Close()
		for rows.Next() {
			var id string
			var it publicmask.SaleItem
			var by, q int32
			if err := rows.Scan(&id, &it.Role, &it.Person, &it.Category, &by, &q); err != nil {
				return err
			}
			it.BirthYear, it.Quantity = int(by), int(q)
			if s := got[id]; s != nil {
				s.Items = append(s.Items, it)
			}
		}
		return rows.Err()
	})
}
