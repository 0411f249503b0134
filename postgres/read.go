package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

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

var _ publicmask.OutletFinder = (*Store)(nil)

// MissingOutlets implements publicmask.OutletFinder: one statement for all
// the codes.
func (s *Store) MissingOutlets(ctx context.Context, codes []string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT k.code FROM unnest($1::text[]) WITH ORDINALITY AS k(code, n)
		WHERE NOT EXISTS (SELECT 1 FROM outlets o WHERE o.code = k.code) ORDER BY k.n`, codes)
	if err != nil {
		return nil, unavailable("missing outlets", err)
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, unavailable("missing outlets", err)
	}
	return missing, nil
}

// Outlets reads every outlet ordered by code. One statement is one
// snapshot, and versions commit in order (tx.go), so the highest version in
// the list is a watermark that the list is consistent with. What it returns
// is durable (see durable).
func (s *Store) Outlets(ctx context.Context) ([]publicmask.Outlet, int64, error) {
	var out []publicmask.Outlet
	var version int64
	err := s.readDurable(ctx, "outlets", func(c *pgxpool.Conn) (n int, err error) {
		out, version, err = view{c}.Outlets(ctx)
		return len(out), err
	})
	if err != nil {
		return nil, 0, err
	}
	return out, version, nil
}

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

// OutletChanges reads outlets changed after a version, in version order.
// Versions become visible in order (see tx.go), so a caller that moves its
// watermark to the last version returned never skips a later commit of a
// lower version: there is none. What it returns is durable (see durable).
func (s *Store) OutletChanges(ctx context.Context, after int64, limit int) ([]publicmask.Outlet, error) {
	var out []publicmask.Outlet
	err := s.readDurable(ctx, "changes", func(c *pgxpool.Conn) (int, error) {
		rows, err := c.Query(ctx, `SELECT `+outletCols+` FROM outlets WHERE version > $1 ORDER BY version LIMIT $2`, after, limit)
		if err != nil {
			return 0, unavailable("changes", err)
		}
		out, err = collect(rows, "changes", scanOutlet)
		return len(out), err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readDurable runs read on one connection and, if it returned anything,
// returns once what it saw is durable (durable), asked on the same
// connection: with a DSN of several hosts the pool's connections may reach
// different servers, and a standby's answer would vouch for nothing read on
// the primary.
func (s *Store) readDurable(ctx context.Context, what string, read func(*pgxpool.Conn) (int, error)) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return unavailable(what, err)
	}
	defer c.Release()
	n, err := read(c)
	if err != nil || n == 0 {
		return err
	}
	return durable(ctx, c)
}

// sqlWritten is the WAL's insert position now (NULL on a hot standby, which
// replays only what its primary has flushed) and whether the flush has
// reached it: if so, it is past the commit of everything a read that ended
// before it saw. CASE, not OR: on a standby the WAL functions fail.
const sqlWritten = `SELECT l::text, CASE WHEN l IS NULL THEN true ELSE pg_current_wal_flush_lsn() >= l END
	FROM (SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_insert_lsn() END AS l) w`

// durableWaits are the pauses durable waits for the flush to pass a
// position before it runs a flush of its own.
var durableWaits = []time.Duration{500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 8 * time.Millisecond}

// durable returns once every transaction a read that has just ended on c
// saw is durable. Writes commit without waiting for the WAL flush and wait
// for it afterwards (tx.go), so for a moment a change can be visible that a
// crash of the server would lose; the change feed must not hand it to a
// follower, which would move its watermark past versions that are then
// given out again. Mostly the flush has already happened, or is a few
// milliseconds away (the writer's own follows its commit at once): durable
// waits for it with cheap reads of the flush position, and only if it
// still has not come (the writer's connection lost between its commit and
// its flush: the WAL writer's next round, up to wal_writer_delay) runs a
// flush of its own (sqlFlushWAL), which writes and flushes the WAL. A read
// of the feed thus costs no WAL write of its own, however often it runs
// (the public /api/v2/status reads the feed).
func durable(ctx context.Context, c *pgxpool.Conn) error {
	var lsn *string
	var flushed bool
	if err := c.QueryRow(ctx, sqlWritten).Scan(&lsn, &flushed); err != nil {
		return unavailable("flush", err)
	}
	for _, d := range durableWaits {
		if flushed {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return unavailable("flush", ctx.Err())
		case <-t.C:
		}
		if err := c.QueryRow(ctx, `SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn`, *lsn).Scan(&flushed); err != nil {
			return unavailable("flush", err)
		}
	}
	if flushed {
		return nil
	}
	if _, err := c.Exec(ctx, sqlFlushWAL); err != nil {
		return unavailable("flush", err)
	}
	return nil
}

// OrderedChanges reports that the change feed is ordered (see tx.go: versions
// are stamped at commit under the outlet_version row lock, so they become
// visible in version order): a follower need not re-read below its
// watermark (snapshot.OrderedSource).
func (s *Store) OrderedChanges() bool { return true }

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

var _ publicmask.TokenReader = (*Store)(nil)

const (
	sqlTokens = `SELECT hash, role, outlet, created_at, revoked_at FROM tokens WHERE hash = ANY($1::text[])`
	// sqlTokensPlanOnce goes out in the same pipeline before sqlTokens, in
	// the implicit transaction that ends at the pipeline's Sync: its LOCAL
	// settings give the read one generic plan per session, the primary
	// key's lookup whatever the table held when it was made. A ledger node
	// reads each token it has not seen, and planned for each call (the
	// session's force_custom_plan, see Open) that took PostgreSQL about
	// twice the read's own time: 629 ms of planning against 291 ms of
	// execution for 6,729 look-ups in bench-pg.sh's 1,500/s step
	// (pg_stat_statements.track_planning).
	sqlTokensPlanOnce = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true), set_config('enable_seqscan', 'off', true)`
)

// Tokens implements publicmask.TokenReader: one statement for all the
// hashes, planned once per session (sqlTokensPlanOnce).
func (s *Store) Tokens(ctx context.Context, hashes []string) (map[string]publicmask.Token, error) {
	out := make(map[string]publicmask.Token, len(hashes))
	b := &pgx.Batch{}
	b.Queue(sqlTokensPlanOnce)
	b.Queue(sqlTokens, hashes).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var t publicmask.Token
			var created, revoked pgtype.Timestamptz
			if err := rows.Scan(&t.Hash, &t.Role, &t.Outlet, &created, &revoked); err != nil {
				return err
			}
			t.CreatedAt, t.RevokedAt = fromTstz(created), fromTstz(revoked)
			out[t.Hash] = t
		}
		return rows.Err()
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, unavailable("tokens", err)
	}
	return out, nil
}

// TokenHashes implements publicmask.TokenLister: one statement, so the
// tokens listed are those of one snapshot; from a watermark through the
// index on created_at (migration 00007), which includes the hash. The hash
// is passed as the driver's bytes (skipped by Scan): a listing of every
// token makes no string of each.
func (s *Store) TokenHashes(ctx context.Context, since time.Time, fn func(hash []byte, created time.Time) error) error {
	var rows pgx.Rows
	var err error
	if since.IsZero() {
		rows, err = s.pool.Query(ctx, `SELECT hash, created_at FROM tokens`)
	} else {
		rows, err = s.pool.Query(ctx, `SELECT hash, created_at FROM tokens WHERE created_at >= $1`, since)
	}
	if err != nil {
		return unavailable("tokens", err)
	}
	defer rows.Close()
	var created pgtype.Timestamptz
	dest := []any{nil, &created} // made once: per row they cost two allocations
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return unavailable("tokens", err)
		}
		if err := fn(rows.RawValues()[0], fromTstz(created)); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return unavailable("tokens", err)
	}
	return nil
}

// TokenCount implements publicmask.TokenLister.
func (s *Store) TokenCount(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM tokens`).Scan(&n); err != nil {
		return 0, unavailable("token count", err)
	}
	return n, nil
}

var _ publicmask.TokenLister = (*Store)(nil)

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
	rows, err := v.q.Query(ctx, `SELECT s.id, s.outlet, s.txn_id, s.sold_at, s.recorded_at, s.week, s.weekend, s.quantity, s.conflict, s.late, s.shortfall, s.cancelled_at, s.outlet_type,
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
		if err := rows.Scan(&sale.ID, &sale.Outlet, &sale.TxnID, &soldAt, &recordedAt, &sale.Week, &sale.Weekend, &qty, &sale.Conflict, &sale.Late, &short, &cancelled, &sale.OutletType,
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
	// Each table is read once and summed per outlet, then joined to the
	// outlets: five correlated sub-queries per outlet read every sale twice,
	// by index, in random order (3.9 s of PostgreSQL for 5,000 outlets and
	// 9,000 sales under scripts/bench-pg.sh's load).
	rows, err := v.q.Query(ctx, `SELECT o.code, o.stock, COALESCE(d.n, 0), COALESCE(s.n, 0), COALESCE(c.n, 0),
		COALESCE(s.short, 0), COALESCE(c.short, 0)
		FROM outlets o
		LEFT JOIN (SELECT outlet, SUM(quantity) AS n FROM deliveries GROUP BY outlet) d ON d.outlet = o.code
		LEFT JOIN (SELECT outlet, SUM(quantity) AS n, SUM(shortfall) FILTER (WHERE shortfall > 0) AS short
			FROM sales WHERE cancelled_at IS NULL GROUP BY outlet) s ON s.outlet = o.code
		LEFT JOIN (SELECT outlet, SUM(delta) AS n, SUM(delta) FILTER (WHERE kind <> 'count') AS short
			FROM corrections GROUP BY outlet) c ON c.outlet = o.code
		ORDER BY o.code`)
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

// NewEpoch appends an epoch that starts at the last stamped version, read
// under the outlet_version row lock (tx.go): a transaction that stamps
// after it waits for this commit and gets a higher version, and the lock
// also serialises nodes that start at once.
func (s *Store) NewEpoch(ctx context.Context, id string) (publicmask.Epochs, error) {
	var es publicmask.Epochs
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var v int64
		if err := tx.QueryRow(ctx, `SELECT v FROM outlet_version WHERE id = 1 FOR UPDATE`).Scan(&v); err != nil {
			return err
		}
		var raw string
		err := tx.QueryRow(ctx, `SELECT chain FROM epochs WHERE id = 1`).Scan(&raw)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		es = publicmask.ParseEpochs(raw).With(publicmask.Epoch{ID: id, Start: v})
		_, err = tx.Exec(ctx, `INSERT INTO epochs (id, chain) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET chain = excluded.chain`, es.String())
		return err
	})
	if err != nil {
		return nil, unavailable("new epoch", err)
	}
	return es, nil
}

// Epochs reads the chain of epochs.
func (s *Store) Epochs(ctx context.Context) (publicmask.Epochs, error) {
	var raw string
	err := s.pool.QueryRow(ctx, `SELECT chain FROM epochs WHERE id = 1`).Scan(&raw)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" {
		// A public role not granted the table (roles.sql not run again
		// after the upgrade): the node follows the feed without epochs.
		return nil, fmt.Errorf("%w: %v", publicmask.ErrNoHistory, err)
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, unavailable("epochs", err)
	}
	return publicmask.ParseEpochs(raw), nil
}
