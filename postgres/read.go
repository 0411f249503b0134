package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/publicmask/publicmask"
)

// Outlet reads one outlet.
func (s *Store) Outlet(ctx context.Context, code string) (publicmask.Outlet, error) {
	o, err := scanOutlet(s.pool.QueryRow(ctx, `SELECT `+outletCols+` FROM outlets WHERE code = $1`, code))
	if errors.Is(err, pgx.ErrNoRows) {
		return o, publicmask.Errorf(publicmask.ENotFound, "outlet %q not found", code)
	}
	if err != nil {
		return o, unavailable("outlet", err)
	}
	return o, nil
}

// Outlets reads every outlet ordered by code, with a watermark the list is
// consistent with: every change at or below it is in the list (the list
// may hold later ones too; a follower re-reads them from the watermark and
// ignores them by version). See "The change feed" below.
func (s *Store) Outlets(ctx context.Context) ([]publicmask.Outlet, int64, error) {
	w, err := s.feed.settle(ctx, s.pool, feedSettle)
	if err != nil {
		return nil, 0, err
	}
	out, _, err := view{s.pool}.Outlets(ctx)
	return out, w, err
}

// Outlets in a view (an audit's single snapshot) reports the highest
// version in the list.
func (v view) Outlets(ctx context.Context) ([]publicmask.Outlet, int64, error) {
	rows, err := v.q.Query(ctx, `SELECT `+outletCols+` FROM outlets ORDER BY code`)
	if err != nil {
		return nil, 0, unavailable("outlets", err)
	}
	out, err := collect(rows, "outlets", scanOutlet)
	if err != nil {
		return nil, 0, err
	}
	var version int64
	for _, o := range out {
		version = max(version, o.Version)
	}
	return out, version, nil
}

// The change feed.
//
// Versions are sequence values taken just before COMMIT (tx.go), so they
// commit out of order: while T1 (version 41) is still committing, T2's 42
// can be visible. OutletChanges therefore returns changes only up to a safe
// watermark W: every version ≤ W belongs to a transaction that has ended
// (it is visible, or it rolled back and left a gap). A follower that moves
// its watermark to the highest version it read never skips a late commit,
// and sees versions in increasing order, as with the old commit chain.
//
// How W is known. Each poll's statement reads, in its one snapshot S:
//   - high: the highest version visible in S;
//   - next: the next transaction id not yet assigned, read after S was
//     taken (age() of a transaction id counts from it without assigning
//     one, on a primary and on a hot standby alike);
//   - xmin: S's xmin, below which every transaction id has ended.
//
// Any version v ≤ high was taken (nextval) before high was, by a
// transaction that had its id before it took v: the rows it stamps were
// locked or inserted by an earlier statement of the same transaction. So
// its id is below next. Once a later snapshot has xmin ≥ next, all those
// transactions have ended, and high is safe. The pair (next, high) is kept
// as a mark until a poll's xmin passes it; a mark whose transactions had
// all ended when it was read (xmin ≥ next in its own snapshot: nothing was
// running) is safe at once.
//
// On a hot standby the same holds in WAL order: the transaction that took
// v wrote a record with its id (the row lock or the insert) before it took
// v, so before high's commit record, and the standby's next transaction id
// has passed it once high is visible there.
//
// The price: W waits for the oldest transaction that held an id when a
// change was polled, in the whole cluster (transaction ids are per
// cluster). Ledger transactions last milliseconds; a long write
// transaction anywhere in the cluster (a bulk load's chunk, an idle
// session inside a transaction) holds the public nodes' freshness back
// for its length. HeldBack reports it, and the refresher then neither
// confirms its snapshot current nor waits a whole poll interval.

// feedSettle bounds how long Outlets waits for the changes it sees to be
// safe before it falls back to the last safe watermark (an older one only
// means the first polls re-read more).
const feedSettle = 5 * time.Second

// feedState is a store's follower state: its marks and its safe watermark.
type feedState struct {
	mu    sync.Mutex
	marks []feedMark // not yet safe, oldest first, high increasing
	safe  int64      // every version ≤ safe has committed or rolled back
	held  bool       // the last poll saw versions above safe
}

type feedMark struct{ next, high int64 }

// maxFeedMarks bounds the marks kept while a long transaction holds xmin
// back; dropping one only delays the watermark, never breaks it.
const maxFeedMarks = 256

// sqlFeed reads the feed's state in one snapshot and the changes in
// ($1, safe]: $2 the safe watermark so far, $3/$4 the marks (next, high),
// $5 the page size. One row at least: with no change, the outlet columns
// are NULL.
const sqlFeed = `WITH m AS MATERIALIZED (
		SELECT x.xmin, x.xmax + age((x.xmax % 4294967296)::text::xid) AS nxt,
			(SELECT COALESCE(max(version), 0) FROM outlets) AS high
		FROM (SELECT pg_snapshot_xmin(s)::text::bigint AS xmin, pg_snapshot_xmax(s)::text::bigint AS xmax
			FROM pg_current_snapshot() AS s) AS x
	), w AS MATERIALIZED (
		SELECT m.xmin, m.nxt, m.high, GREATEST($2::bigint,
			(SELECT max(t.h) FROM unnest($3::int8[], $4::int8[]) AS t(n, h) WHERE t.n <= m.xmin),
			CASE WHEN m.nxt <= m.xmin THEN m.high END) AS safe
		FROM m
	)
	SELECT w.xmin, w.nxt, w.high, w.safe, o.code, COALESCE(o.name, ''), COALESCE(o.addr, ''), COALESCE(o.type, ''),
		COALESCE(o.lat, 0), COALESCE(o.lng, 0), COALESCE(o.stock, 0), COALESCE(o.suspended, false), o.stock_at, o.updated_at,
		COALESCE(o.version, 0), COALESCE(o.sold, 0)
	FROM w LEFT JOIN LATERAL (
		SELECT ` + outletCols + ` FROM outlets WHERE version > $1 AND version <= w.safe ORDER BY version LIMIT $5
	) AS o ON true`

// poll runs sqlFeed once and moves the state on.
func (f *feedState) poll(ctx context.Context, q querier, after int64, limit int) ([]publicmask.Outlet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ns, hs := make([]int64, len(f.marks)), make([]int64, len(f.marks))
	for i, m := range f.marks {
		ns[i], hs[i] = m.next, m.high
	}
	rows, err := q.Query(ctx, sqlFeed, after, f.safe, ns, hs, limit)
	if err != nil {
		return nil, unavailable("changes", err)
	}
	defer rows.Close()
	var out []publicmask.Outlet
	var xmin, next, high, safe int64
	for rows.Next() {
		var o publicmask.Outlet
		var code pgtype.Text
		var stock, sold int64
		var stockAt, updatedAt pgtype.Timestamptz
		if err := rows.Scan(&xmin, &next, &high, &safe, &code, &o.Name, &o.Addr, &o.Type, &o.Lat, &o.Lng, &stock, &o.Suspended,
			&stockAt, &updatedAt, &o.Version, &sold); err != nil {
			return nil, unavailable("changes", err)
		}
		if !code.Valid {
			continue
		}
		o.Code, o.Stock, o.Sold = code.String, int(stock), int(sold)
		o.StockAt, o.UpdatedAt = fromTstz(stockAt), fromTstz(updatedAt)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("changes", err)
	}
	f.safe = max(f.safe, safe)
	keep := f.marks[:0]
	for _, m := range f.marks {
		if m.next > xmin && m.high > f.safe {
			keep = append(keep, m)
		}
	}
	f.marks = keep
	if high > f.safe && (len(f.marks) == 0 || high > f.marks[len(f.marks)-1].high) {
		if len(f.marks) >= maxFeedMarks {
			// Keep the oldest (the next to come due) and every other one.
			half := f.marks[:1]
			for i := 2; i < len(f.marks); i += 2 {
				half = append(half, f.marks[i])
			}
			f.marks = half
		}
		f.marks = append(f.marks, feedMark{next, high})
	}
	f.held = high > f.safe
	return out, nil
}

// settle polls the feed's state (no changes) until nothing visible is
// above the safe watermark or d has passed, and returns the watermark.
func (f *feedState) settle(ctx context.Context, q querier, d time.Duration) (int64, error) {
	deadline := time.Now().Add(d)
	for {
		if _, err := f.poll(ctx, q, 0, 0); err != nil {
			return 0, err
		}
		f.mu.Lock()
		safe, held := f.safe, f.held
		f.mu.Unlock()
		if !held || time.Now().After(deadline) {
			return safe, nil
		}
		if err := sleep(ctx, 2*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

// OutletChanges reads outlets changed after a version, in version order, up
// to the safe watermark (see "The change feed"): a caller that moves its
// watermark to the last version returned never skips a later commit of a
// lower version.
func (s *Store) OutletChanges(ctx context.Context, after int64, limit int) ([]publicmask.Outlet, error) {
	return s.feed.poll(ctx, s.pool, after, limit)
}

// OrderedChanges reports that the change feed is ordered: OutletChanges
// never returns a version below which another can still become visible
// (snapshot.OrderedSource).
func (s *Store) OrderedChanges() bool { return true }

// HeldBack reports whether the last OutletChanges saw committed changes
// above its safe watermark, waiting for older transactions to end
// (snapshot.HeldBackSource).
func (s *Store) HeldBack() bool {
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	return s.feed.held
}

// SoldSince sums the non-cancelled sales of an outlet since an instant.
func (s *Store) SoldSince(ctx context.Context, outlet string, since time.Time) (int, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(SUM(quantity), 0) FROM sales WHERE outlet = $1 AND sold_at >= $2 AND cancelled_at IS NULL`, outlet, since).Scan(&n)
	if err != nil {
		return 0, unavailable("sold since", err)
	}
	return int(n), nil
}

// collect reads every row with scan and closes rows; a failure is
// unavailable(op, …).
func collect[T any](rows pgx.Rows, op string, scan func(pgx.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, unavailable(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, err)
	}
	return out, nil
}

// RecentSales lists an outlet's latest sales (without items), newest first.
func (s *Store) RecentSales(ctx context.Context, outlet string, limit int) ([]publicmask.Sale, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+saleCols+` FROM sales WHERE outlet = $1 ORDER BY sold_at DESC, id LIMIT $2`, outlet, limit)
	if err != nil {
		return nil, unavailable("recent sales", err)
	}
	return collect(rows, "recent sales", scanSale)
}

// Token reads a token by its hash.
func (s *Store) Token(ctx context.Context, hash string) (publicmask.Token, error) {
	t := publicmask.Token{Hash: hash}
	var created, revoked pgtype.Timestamptz
	err := s.pool.QueryRow(ctx, `SELECT role, outlet, created_at, revoked_at FROM tokens WHERE hash = $1`, hash).Scan(&t.Role, &t.Outlet, &created, &revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, publicmask.Errorf(publicmask.ENotFound, "token not found")
	}
	if err != nil {
		return t, unavailable("token", err)
	}
	t.CreatedAt, t.RevokedAt = fromTstz(created), fromTstz(revoked)
	return t, nil
}

// PersonWeeks reads persons' usage in a week, without locking.
func (s *Store) PersonWeeks(ctx context.Context, week string, persons []string) (map[string]publicmask.PersonWeek, error) {
	out := make(map[string]publicmask.PersonWeek, len(persons))
	if len(persons) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT person, quantity, purchases, weekday_purchases, weekend_purchases FROM person_weeks
		WHERE week = $1 AND person = ANY($2::text[])`, week, persons)
	if err != nil {
		return nil, unavailable("person weeks", err)
	}
	defer rows.Close()
	for rows.Next() {
		pw := publicmask.PersonWeek{Week: week}
		if err := rows.Scan(&pw.Person, &pw.Quantity, &pw.Purchases, &pw.WeekdayPurchases, &pw.WeekendPurchases); err != nil {
			return nil, unavailable("person weeks", err)
		}
		out[pw.Person] = pw
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("person weeks", err)
	}
	return out, nil
}

// SalesSince streams sales sold at or after since, with their items, in
// insertion order (sales.seq). One joined statement keeps sales and items in
// one snapshot.
func (s *Store) SalesSince(ctx context.Context, since time.Time, fn func(publicmask.Sale) error) error {
	return view{s.pool}.SalesSince(ctx, since, fn)
}

func (v view) SalesSince(ctx context.Context, since time.Time, fn func(publicmask.Sale) error) error {
	rows, err := v.q.Query(ctx, `SELECT s.id, s.outlet, s.txn_id, s.sold_at, s.recorded_at, s.week, s.weekend, s.quantity, s.conflict, s.late, s.shortfall, s.cancelled_at,
			i.role, i.person, i.category, i.birth_year, i.quantity
		FROM sales s LEFT JOIN sale_items i ON i.sale_id = s.id
		WHERE s.sold_at >= $1 ORDER BY s.seq, i.idx`, since)
	if err != nil {
		return unavailable("sales", err)
	}
	defer rows.Close()
	var cur *publicmask.Sale
	for rows.Next() {
		var sale publicmask.Sale
		var soldAt, recordedAt, cancelled pgtype.Timestamptz
		var role, person, category pgtype.Text
		var birthYear, itemQty pgtype.Int4
		var qty, short int32
		if err := rows.Scan(&sale.ID, &sale.Outlet, &sale.TxnID, &soldAt, &recordedAt, &sale.Week, &sale.Weekend, &qty, &sale.Conflict, &sale.Late, &short, &cancelled,
			&role, &person, &category, &birthYear, &itemQty); err != nil {
			return unavailable("sales", err)
		}
		if cur == nil || cur.ID != sale.ID {
			if cur != nil {
				if err := fn(*cur); err != nil {
					return err
				}
			}
			sale.Quantity, sale.Shortfall = int(qty), int(short)
			sale.SoldAt, sale.RecordedAt, sale.CancelledAt = fromTstz(soldAt), fromTstz(recordedAt), fromTstz(cancelled)
			cur = &sale
		}
		if role.Valid {
			cur.Items = append(cur.Items, publicmask.SaleItem{Role: role.String, Person: person.String, Category: category.String, BirthYear: int(birthYear.Int32), Quantity: int(itemQty.Int32)})
		}
	}
	if err := rows.Err(); err != nil {
		return unavailable("sales", err)
	}
	if cur != nil {
		return fn(*cur)
	}
	return nil
}

// PersonWeeksSince streams person-week rows of weeks ≥ week.
func (s *Store) PersonWeeksSince(ctx context.Context, week string, fn func(publicmask.PersonWeek) error) error {
	return view{s.pool}.PersonWeeksSince(ctx, week, fn)
}

func (v view) PersonWeeksSince(ctx context.Context, week string, fn func(publicmask.PersonWeek) error) error {
	rows, err := v.q.Query(ctx, `SELECT person, week, quantity, purchases, weekday_purchases, weekend_purchases FROM person_weeks WHERE week >= $1 ORDER BY week, person`, week)
	if err != nil {
		return unavailable("person weeks", err)
	}
	defer rows.Close()
	for rows.Next() {
		var pw publicmask.PersonWeek
		if err := rows.Scan(&pw.Person, &pw.Week, &pw.Quantity, &pw.Purchases, &pw.WeekdayPurchases, &pw.WeekendPurchases); err != nil {
			return unavailable("person weeks", err)
		}
		if err := fn(pw); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return unavailable("person weeks", err)
	}
	return nil
}

// OutletTotals reads, per outlet, the stock and the aggregates it must
// equal, in one snapshot.
func (s *Store) OutletTotals(ctx context.Context) ([]publicmask.OutletTotals, error) {
	return view{s.pool}.OutletTotals(ctx)
}

func (v view) OutletTotals(ctx context.Context) ([]publicmask.OutletTotals, error) {
	rows, err := v.q.Query(ctx, `SELECT o.code, o.stock,
		COALESCE((SELECT SUM(quantity) FROM deliveries d WHERE d.outlet = o.code), 0),
		COALESCE((SELECT SUM(quantity) FROM sales s WHERE s.outlet = o.code AND s.cancelled_at IS NULL), 0),
		COALESCE((SELECT SUM(delta) FROM corrections c WHERE c.outlet = o.code), 0),
		COALESCE((SELECT SUM(shortfall) FROM sales s WHERE s.outlet = o.code AND s.cancelled_at IS NULL AND s.shortfall > 0), 0),
		COALESCE((SELECT SUM(delta) FROM corrections c WHERE c.outlet = o.code AND c.kind <> 'count'), 0)
		FROM outlets o ORDER BY o.code`)
	if err != nil {
		return nil, unavailable("totals", err)
	}
	return collect(rows, "totals", func(r pgx.Row) (publicmask.OutletTotals, error) {
		var t publicmask.OutletTotals
		var stock, delivered, sold, corr, short, shortCorr int64
		err := r.Scan(&t.Code, &stock, &delivered, &sold, &corr, &short, &shortCorr)
		t.Stock, t.Delivered, t.Sold, t.Corrections = int(stock), int(delivered), int(sold), int(corr)
		t.Shortfall, t.ShortfallCorrections = int(short), int(shortCorr)
		return t, err
	})
}

// Conflicts lists late sales that broke a rule, newest first, with items.
func (s *Store) Conflicts(ctx context.Context, limit int) ([]publicmask.Sale, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+saleCols+` FROM sales WHERE conflict <> '' ORDER BY sold_at DESC, id LIMIT $1`, limit)
	if err != nil {
		return nil, unavailable("conflicts", err)
	}
	out, err := collect(rows, "conflicts", scanSale)
	if err != nil || len(out) == 0 {
		return out, err
	}
	ids := make([]string, len(out))
	at := make(map[string]int, len(out))
	for i, sale := range out {
		ids[i], at[sale.ID] = sale.ID, i
	}
	rows, err = s.pool.Query(ctx, `SELECT sale_id, role, person, category, birth_year, quantity FROM sale_items WHERE sale_id = ANY($1::text[]) ORDER BY sale_id, idx`, ids)
	if err != nil {
		return nil, unavailable("conflict items", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var it publicmask.SaleItem
		var by, q int32
		if err := rows.Scan(&id, &it.Role, &it.Person, &it.Category, &by, &q); err != nil {
			return nil, unavailable("conflict items", err)
		}
		it.BirthYear, it.Quantity = int(by), int(q)
		out[at[id]].Items = append(out[at[id]].Items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("conflict items", err)
	}
	return out, nil
}

// LateSaleCounts counts late sales per outlet.
func (s *Store) LateSaleCounts(ctx context.Context) ([]publicmask.LateSaleCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT outlet, COUNT(*), COUNT(*) FILTER (WHERE conflict <> '') FROM sales WHERE late GROUP BY outlet ORDER BY outlet`)
	if err != nil {
		return nil, unavailable("late sale counts", err)
	}
	return collect(rows, "late sale counts", func(r pgx.Row) (publicmask.LateSaleCount, error) {
		var c publicmask.LateSaleCount
		var late, conflicts int64
		err := r.Scan(&c.Outlet, &late, &conflicts)
		c.Late, c.Conflicts = int(late), int(conflicts)
		return c, err
	})
}

// OutletActive looks for the outlet's own writes in (after, until]. Sales
// are found through (outlet, sold_at): a sale recorded in the interval was
// sold at most MaxLateWindow before it.
func (s *Store) OutletActive(ctx context.Context, outlet string, after, until time.Time) (bool, error) {
	var found bool
	err := s.pool.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM sales WHERE outlet = $1 AND sold_at > $3 AND sold_at <= $2 AND recorded_at > $4 AND recorded_at <= $2)
		OR EXISTS (SELECT 1 FROM sales WHERE outlet = $1 AND cancelled_at > $4 AND cancelled_at <= $2 AND sold_at > $3)
		OR EXISTS (SELECT 1 FROM corrections WHERE outlet = $1 AND kind = 'count' AND at > $4 AND at <= $2)
		OR EXISTS (SELECT 1 FROM suspensions WHERE outlet = $1 AND ((since > $4 AND since <= $2) OR (until > $4 AND until <= $2)))`,
		outlet, until, after.Add(-publicmask.MaxLateWindow), after).Scan(&found)
	if err != nil {
		return false, unavailable("outlet active", err)
	}
	return found, nil
}

// purgeChunk bounds the rows one purge transaction touches, so that its
// row locks and its share of the WAL stay small beside the sales.
var purgeChunk = 5000

// Purge forgets who bought before week: person-week rows are deleted and
// sale items lose their person key; sales and quantities stay. It works in
// chunks of purgeChunk rows, each its own transaction; an interrupted purge
// is finished by the next one.
func (s *Store) Purge(ctx context.Context, week string) (int, error) {
	cutoff, err := time.Parse("2006-01-02 -0700", week+" +0900")
	if err != nil {
		return 0, fmt.Errorf("postgres: purge: bad week %q", week)
	}
	steps := []struct {
		query string
		arg   any
	}{
		{`DELETE FROM person_weeks WHERE (week, person) IN
			(SELECT week, person FROM person_weeks WHERE week < $1 LIMIT $2)`, week},
		{`UPDATE sale_items SET person = '' WHERE (sale_id, idx) IN
			(SELECT i.sale_id, i.idx FROM sales s JOIN sale_items i ON i.sale_id = s.id
			 WHERE s.week < $1 AND i.person <> '' LIMIT $2)`, week},
		{`DELETE FROM idempotency WHERE (outlet, txn_id) IN
			(SELECT outlet, txn_id FROM idempotency WHERE created_at < $1 LIMIT $2)`, cutoff},
	}
	return publicmask.PurgeInChunks(len(steps), purgeChunk, func(i int) (got int64, err error) {
		st := steps[i]
		err = s.plainTx(ctx, "purge", func(tx pgx.Tx) error {
			ct, err := tx.Exec(ctx, st.query, st.arg, purgeChunk)
			got = ct.RowsAffected()
			return err
		})
		return got, err
	})
}

// plainTx runs fn in a transaction, retrying deadlocks and serialization
// failures like Write does.
func (s *Store) plainTx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if err == nil {
			return nil
		}
		if !isConflict(err) || attempt >= s.opts.MaxAttempts {
			return unavailable(op, err)
		}
		s.retries.Add(1)
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
}

// Meta reads a metadata value ("" if unset).
func (s *Store) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", unavailable("meta", err)
	}
	return v, nil
}

// InitMeta sets a value unless one is set, and returns the value in force.
func (s *Store) InitMeta(ctx context.Context, key, value string) (string, error) {
	if _, err := s.pool.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
		return "", unavailable("init meta", err)
	}
	return s.Meta(ctx, key)
}

// SetMeta writes a metadata value.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return unavailable("set meta", err)
	}
	return nil
}

// querier is what a view reads through: the pool, or one transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// view implements the audit reads over a querier.
type view struct{ q querier }

// Audit runs fn in one REPEATABLE READ, READ ONLY transaction: every read
// in it sees the same snapshot while sales commit meanwhile.
func (s *Store) Audit(ctx context.Context, fn func(publicmask.AuditReader) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return unavailable("audit", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	return fn(view{tx})
}
