package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"math"
	"strings"
	"time"

	"github.com/publicmask/publicmask"
)

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // embedded at build time: cannot fail at run time
	}
	return sub
}

// Outlet reads one outlet.
func (s *Store) Outlet(ctx context.Context, code string) (publicmask.Outlet, error) {
	if o, ok := s.hot.outlet(code); ok {
		return o, nil // the writer's copy: what a sale would read (hot.go)
	}
	o, err := scanOutlet(s.reader.QueryRowContext(ctx, `SELECT `+outletCols+` FROM `+outletFrom+` WHERE o.code = ?`, code))
	if isNoRows(err) {
		return o, publicmask.Errorf(publicmask.ENotFound, "outlet %q not found", code)
	}
	if err != nil {
		return o, fmt.Errorf("sqlite: outlet: %w", err)
	}
	return o, nil
}

// Outlets reads every outlet, ordered by code, in one read transaction so
// that the returned version matches the list.
func (s *Store) Outlets(ctx context.Context) (out []publicmask.Outlet, version int64, err error) {
	err = s.Audit(ctx, func(r publicmask.AuditReader) error {
		out, version, err = r.Outlets(ctx)
		return err
	})
	return out, version, err
}

func (v view) Outlets(ctx context.Context) ([]publicmask.Outlet, int64, error) {
	rows, err := v.q.QueryContext(ctx, `SELECT `+outletCols+` FROM `+outletFrom+` ORDER BY o.code`)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: outlets: %w", err)
	}
	defer rows.Close()
	var out []publicmask.Outlet
	var version int64
	for rows.Next() {
		o, err := scanOutlet(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("sqlite: outlets: %w", err)
		}
		version = max(version, o.Version)
		out = append(out, o)
	}
	return out, version, rows.Err()
}

// OutletChanges reads outlets changed after a version, in version order,
// through the log of changes (changes.go). SQLite has one writer and
// assigns versions inside it, so versions commit in order and a watermark
// never skips one.
func (s *Store) OutletChanges(ctx context.Context, after int64, limit int) ([]publicmask.Outlet, error) {
	rows, err := s.reader.QueryContext(ctx, sqlChanges, after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: changes: %w", err)
	}
	defer rows.Close()
	var out []publicmask.Outlet
	for rows.Next() {
		o, err := scanOutlet(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: changes: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// SoldSince sums the non-cancelled sales of an outlet since an instant.
func (s *Store) SoldSince(ctx context.Context, outlet string, since time.Time) (int, error) {
	var n int
	err := s.reader.QueryRowContext(ctx, `SELECT COALESCE(SUM(quantity), 0) FROM sales WHERE outlet = ? AND sold_at >= ? AND cancelled_at IS NULL`, outlet, micro(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: sold since: %w", err)
	}
	return n, nil
}

// RecentSales lists an outlet's latest sales (without items), newest first.
func (s *Store) RecentSales(ctx context.Context, outlet string, limit int) ([]publicmask.Sale, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+saleCols+` FROM sales WHERE outlet = ? ORDER BY sold_at DESC, id LIMIT ?`, outlet, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: recent sales: %w", err)
	}
	defer rows.Close()
	var out []publicmask.Sale
	for rows.Next() {
		sale, err := scanSale(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: recent sales: %w", err)
		}
		out = append(out, sale)
	}
	return out, rows.Err()
}

// Token reads a token by its hash.
func (s *Store) Token(ctx context.Context, hash string) (publicmask.Token, error) {
	t := publicmask.Token{Hash: hash}
	var created int64
	var revoked sql.NullInt64
	err := s.reader.QueryRowContext(ctx, `SELECT role, outlet, created_at, revoked_at FROM tokens WHERE hash = ?`, hash).Scan(&t.Role, &t.Outlet, &created, &revoked)
	if isNoRows(err) {
		return t, publicmask.Errorf(publicmask.ENotFound, "token not found")
	}
	if err != nil {
		return t, fmt.Errorf("sqlite: token: %w", err)
	}
	t.CreatedAt, t.RevokedAt = fromMicro(created), fromNullMicro(revoked)
	return t, nil
}

// TokenHashes implements publicmask.TokenLister. One statement, through
// the index on created_at (migration 00018), which holds the hash: the rows
// themselves are not read. The hash is scanned as RawBytes, so a listing of
// every token makes no string of each.
func (s *Store) TokenHashes(ctx context.Context, since time.Time, fn func(hash []byte, created time.Time) error) error {
	from := int64(math.MinInt64)
	if !since.IsZero() {
		from = micro(since)
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT hash, created_at FROM tokens INDEXED BY tokens_created WHERE created_at >= ?`, from)
	if err != nil {
		return fmt.Errorf("sqlite: tokens: %w", err)
	}
	defer rows.Close()
	var hash sql.RawBytes
	var created int64
	for rows.Next() {
		if err := rows.Scan(&hash, &created); err != nil {
			return fmt.Errorf("sqlite: tokens: %w", err)
		}
		if err := fn(hash, fromMicro(created)); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: tokens: %w", err)
	}
	return nil
}

// TokenCount implements publicmask.TokenLister.
func (s *Store) TokenCount(ctx context.Context) (int, error) {
	var n int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM tokens`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: token count: %w", err)
	}
	return n, nil
}

var _ publicmask.TokenLister = (*Store)(nil)

// PersonWeeks reads persons' usage in a week.
func (s *Store) PersonWeeks(ctx context.Context, week string, persons []string) (map[string]publicmask.PersonWeek, error) {
	out := make(map[string]publicmask.PersonWeek, len(persons))
	// A person that the writer's filter for the week does not know has no
	// row (hot.go): the sale decides the same without reading.
	ask := persons
	s.hot.mu.RLock()
	if f := s.hot.weeks[week]; f != nil {
		ask = make([]string, 0, len(persons))
		for _, p := range persons {
			if f.mayHave(p) {
				ask = append(ask, p)
			}
		}
	}
	s.hot.mu.RUnlock()
	for _, p := range ask {
		pw := publicmask.PersonWeek{Person: p, Week: week}
		err := s.reader.QueryRowContext(ctx, `SELECT quantity, purchases, weekday_purchases, weekend_purchases FROM person_weeks WHERE person = ? AND week = ?`, p, week).
			Scan(&pw.Quantity, &pw.Purchases, &pw.WeekdayPurchases, &pw.WeekendPurchases)
		if isNoRows(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: person weeks: %w", err)
		}
		out[p] = pw
	}
	return out, nil
}

// SalesSince streams sales sold at or after since, with items, in the
// order the ledger recorded them.
func (s *Store) SalesSince(ctx context.Context, since time.Time, fn func(publicmask.Sale) error) error {
	return s.Audit(ctx, func(r publicmask.AuditReader) error { return r.SalesSince(ctx, since, fn) })
}

func (v view) SalesSince(ctx context.Context, since time.Time, fn func(publicmask.Sale) error) error {
	// One statement, sales joined to their items, as in package postgres:
	// one pass, in insertion order (rowid), items in their order: the
	// row's own (migration 00016), then those of sale_items.
	rows, err := v.q.QueryContext(ctx, `SELECT s.id, s.outlet, s.txn_id, s.sold_at, s.recorded_at, s.week, s.weekend, s.quantity, s.conflict, s.late, s.shortfall, s.cancelled_at, s.outlet_type,
			s.item_role, s.item_person, s.item_category, s.item_birth_year, s.item_quantity,
			i.role, i.person, i.category, i.birth_year, i.quantity
		FROM sales s LEFT JOIN sale_items i ON i.sale_id = s.id
		WHERE s.sold_at >= ? ORDER BY s.rowid, i.idx`, micro(since))
	if err != nil {
		return fmt.Errorf("sqlite: sales: %w", err)
	}
	defer rows.Close()
	var cur *publicmask.Sale
	for rows.Next() {
		var sale publicmask.Sale
		var soldAt, recordedAt int64
		var cancelled, birthYear, itemQty sql.NullInt64
		var role, person, category sql.NullString
		var first rowItem
		if err := rows.Scan(&sale.ID, &sale.Outlet, &sale.TxnID, &soldAt, &recordedAt, &sale.Week, &sale.Weekend, &sale.Quantity, &sale.Conflict, &sale.Late, &sale.Shortfall, &cancelled, &sale.OutletType,
			&first.role, &first.person, &first.category, &first.year, &first.qty,
			&role, &person, &category, &birthYear, &itemQty); err != nil {
			return fmt.Errorf("sqlite: sales: %w", err)
		}
		if cur == nil || cur.ID != sale.ID {
			if cur != nil {
				if err := fn(*cur); err != nil {
					return err
				}
			}
			sale.SoldAt, sale.RecordedAt, sale.CancelledAt = fromMicro(soldAt), fromMicro(recordedAt), fromNullMicro(cancelled)
			sale.Items = first.appendTo(nil)
			cur = &sale
		}
		if role.Valid {
			cur.Items = append(cur.Items, publicmask.SaleItem{Role: role.String, Person: person.String, Category: category.String, BirthYear: int(birthYear.Int64), Quantity: int(itemQty.Int64)})
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: sales: %w", err)
	}
	if cur != nil {
		return fn(*cur)
	}
	return nil
}

// PersonWeeksSince streams person-week rows of weeks ≥ week.
func (s *Store) PersonWeeksSince(ctx context.Context, week string, fn func(publicmask.PersonWeek) error) error {
	return view{s.reader}.PersonWeeksSince(ctx, week, fn)
}

func (v view) PersonWeeksSince(ctx context.Context, week string, fn func(publicmask.PersonWeek) error) error {
	rows, err := v.q.QueryContext(ctx, `SELECT person, week, quantity, purchases, weekday_purchases, weekend_purchases FROM person_weeks WHERE week >= ? ORDER BY week, person`, week)
	if err != nil {
		return fmt.Errorf("sqlite: person weeks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var pw publicmask.PersonWeek
		if err := rows.Scan(&pw.Person, &pw.Week, &pw.Quantity, &pw.Purchases, &pw.WeekdayPurchases, &pw.WeekendPurchases); err != nil {
			return fmt.Errorf("sqlite: person weeks: %w", err)
		}
		if err := fn(pw); err != nil {
			return err
		}
	}
	return rows.Err()
}

// OutletTotals reads, per outlet, the stock and the aggregates it must equal.
func (s *Store) OutletTotals(ctx context.Context) ([]publicmask.OutletTotals, error) {
	return view{s.reader}.OutletTotals(ctx)
}

func (v view) OutletTotals(ctx context.Context) ([]publicmask.OutletTotals, error) {
	rows, err := v.q.QueryContext(ctx, `SELECT o.code, o.stock,
		COALESCE((SELECT SUM(quantity) FROM deliveries d WHERE d.outlet = o.code), 0),
		COALESCE((SELECT SUM(quantity) FROM sales s WHERE s.outlet = o.code AND s.cancelled_at IS NULL), 0),
		COALESCE((SELECT SUM(delta) FROM corrections c WHERE c.outlet = o.code), 0),
		COALESCE((SELECT SUM(shortfall) FROM sales s WHERE s.outlet = o.code AND s.cancelled_at IS NULL AND s.shortfall > 0), 0),
		COALESCE((SELECT SUM(delta) FROM corrections c WHERE c.outlet = o.code AND c.kind <> 'count'), 0)
		FROM outlets o ORDER BY o.code`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: totals: %w", err)
	}
	defer rows.Close()
	var out []publicmask.OutletTotals
	for rows.Next() {
		var t publicmask.OutletTotals
		if err := rows.Scan(&t.Code, &t.Stock, &t.Delivered, &t.Sold, &t.Corrections, &t.Shortfall, &t.ShortfallCorrections); err != nil {
			return nil, fmt.Errorf("sqlite: totals: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Conflicts lists late sales that broke a rule, newest first.
func (s *Store) Conflicts(ctx context.Context, limit int) ([]publicmask.Sale, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+saleCols+`, `+saleItemCols+` FROM sales WHERE conflict <> '' ORDER BY sold_at DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: conflicts: %w", err)
	}
	defer rows.Close()
	var out []publicmask.Sale
	for rows.Next() {
		sale, err := scanSaleRow(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: conflicts: %w", err)
		}
		out = append(out, sale)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	for i := range out {
		items, err := s.reader.QueryContext(ctx, `SELECT role, person, category, birth_year, quantity FROM sale_items WHERE sale_id = ? ORDER BY idx`, out[i].ID)
		if err != nil {
			return nil, fmt.Errorf("sqlite: conflict items: %w", err)
		}
		rest, err := scanItems(items) // after the row's item
		if err != nil {
			return nil, err
		}
		out[i].Items = append(out[i].Items, rest...)
	}
	return out, nil
}

// LateSaleCounts counts late sales per outlet.
func (s *Store) LateSaleCounts(ctx context.Context) ([]publicmask.LateSaleCount, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT outlet, COUNT(*), COUNT(*) FILTER (WHERE conflict <> '') FROM sales WHERE late <> 0 GROUP BY outlet ORDER BY outlet`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: late sale counts: %w", err)
	}
	defer rows.Close()
	var out []publicmask.LateSaleCount
	for rows.Next() {
		var c publicmask.LateSaleCount
		if err := rows.Scan(&c.Outlet, &c.Late, &c.Conflicts); err != nil {
			return nil, fmt.Errorf("sqlite: late sale counts: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// OutletActive looks for the outlet's own writes in (after, until]. Sales
// are found through (outlet, sold_at): a sale recorded in the interval was
// sold at most maxLateAge before it.
func (s *Store) OutletActive(ctx context.Context, outlet string, after, until time.Time) (bool, error) {
	a, u := micro(after), micro(until)
	var found bool
	err := s.reader.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM sales WHERE outlet = ?1 AND sold_at > ?3 AND sold_at <= ?2 AND recorded_at > ?4 AND recorded_at <= ?2)
		OR EXISTS (SELECT 1 FROM sales WHERE outlet = ?1 AND cancelled_at > ?4 AND cancelled_at <= ?2 AND sold_at > ?3)
		OR EXISTS (SELECT 1 FROM corrections WHERE outlet = ?1 AND kind = 'count' AND at > ?4 AND at <= ?2)
		OR EXISTS (SELECT 1 FROM suspensions WHERE outlet = ?1 AND ((since > ?4 AND since <= ?2) OR (until > ?4 AND until <= ?2)))`,
		outlet, u, a-micro7d, a).Scan(&found)
	if err != nil {
		return false, fmt.Errorf("sqlite: outlet active: %w", err)
	}
	return found, nil
}

// micro7d bounds how long before its recording a sale can have been sold
// (the largest late window a policy may set).
const micro7d = int64(publicmask.MaxLateWindow / time.Microsecond)

// purgeChunk bounds the rows one purge transaction touches: the purge
// holds the single writer only that long, and sales batches run between
// its chunks.
var purgeChunk = 5000

// Purge forgets who bought before week: person-week rows are deleted and
// sale items lose their person key, in sale_items and in the sales' rows
// (migration 00016). Sales, quantities and birth years stay
// for the aggregates. It works in chunks of purgeChunk rows, each its own
// transaction; an interrupted purge is finished by the next one.
func (s *Store) Purge(ctx context.Context, week string) (int, error) {
	cutoff, err := time.Parse("2006-01-02 -0700", week+" +0900")
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge: bad week %q", week)
	}
	steps := []struct {
		what  string
		query string
		arg   any
	}{
		{"person weeks", `DELETE FROM person_weeks WHERE (week, person) IN
			(SELECT week, person FROM person_weeks WHERE week < ? LIMIT ?)`, week},
		{"sale items", `UPDATE sale_items SET person = '' WHERE (sale_id, idx) IN
			(SELECT i.sale_id, i.idx FROM sales s JOIN sale_items i ON i.sale_id = s.id
			 WHERE s.week < ? AND i.person <> '' LIMIT ?)`, week},
		{"idempotency", `DELETE FROM idempotency WHERE (outlet, txn_id) IN
			(SELECT outlet, txn_id FROM idempotency WHERE created_at < ? LIMIT ?)`, micro(cutoff)},
		// A sale's own record (migration 00006) goes by the same rule as
		// the table's: recorded before the cutoff; and a sale's first item,
		// in its row since 00016, loses its person key if its week is
		// purged. Sales have no index on recorded_at (one would cost every
		// sale a write): one step clears both, so that the chunks walk the
		// table once, in rowid order, from where the last one ended.
		{"sale records and row items", `UPDATE sales SET
			item_person = iif(week < ?4, '', item_person),
			body_hash = iif(recorded_at < ?1 AND response IS NOT NULL, '', body_hash),
			response = iif(recorded_at < ?1, NULL, response) WHERE rowid IN
			(SELECT rowid FROM sales WHERE rowid > ?3 AND
			 ((recorded_at < ?1 AND response IS NOT NULL) OR (week < ?4 AND item_person <> ''))
			 ORDER BY rowid LIMIT ?2)
			RETURNING rowid`, micro(cutoff)},
		// A delivery's own record (migration 00007): likewise, by at.
		{"delivery records", `UPDATE deliveries SET body_hash = '', response = NULL, stock = NULL WHERE rowid IN
			(SELECT rowid FROM deliveries WHERE rowid > ?3 AND at < ?1 AND response IS NOT NULL ORDER BY rowid LIMIT ?2)
			RETURNING rowid`, micro(cutoff)},
	}
	after := make([]int64, len(steps)) // per step, the last row cleared
	return publicmask.PurgeInChunks(len(steps), purgeChunk, func(i int) (got int64, err error) {
		st := steps[i]
		err = s.exclusive(func() error {
			tx, err := s.writer.BeginTx(ctx, nil)
			if err != nil {
				return unavailable("purge", err)
			}
			defer tx.Rollback()
			if got, err = purgeStep(ctx, tx, st.query, st.arg, week, &after[i]); err != nil {
				return fmt.Errorf("sqlite: purge %s: %w", st.what, err)
			}
			if err := tx.Commit(); err != nil {
				s.hot.drop()
				return unavailable("purge commit", err)
			}
			if i == 0 {
				s.hot.dropWeeksBefore(week)
			}
			return nil
		})
		return got, err
	})
}

// purgeStep runs one chunk of a purge step and counts its rows; a step
// that returns rowids moves *after to the last, and may use week as ?4.
func purgeStep(ctx context.Context, tx *sql.Tx, query string, arg any, week string, after *int64) (int64, error) {
	if !strings.Contains(query, "RETURNING rowid") {
		res, err := tx.ExecContext(ctx, query, arg, purgeChunk)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	args := []any{arg, purgeChunk, *after}
	if strings.Contains(query, "?4") {
		args = append(args, week)
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return 0, err
		}
		*after = max(*after, id)
		n++
	}
	return n, rows.Err()
}

// exclusive runs f under the writer lock and returns once what it
// committed is on disk.
func (s *Store) exclusive(f func() error) error {
	s.writing.Add(1)
	defer s.writing.Add(-1)
	s.writeMu.Lock()
	if err := s.dur.err(); err != nil {
		s.writeMu.Unlock()
		return err // as write: a broken store commits nothing more
	}
	err := f()
	var seq uint64
	if err == nil {
		seq = s.dur.committedOne()
	}
	s.writeMu.Unlock()
	if err != nil {
		return err
	}
	return s.dur.wait(seq)
}

// Meta reads a metadata value ("" if unset).
func (s *Store) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.reader.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if isNoRows(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: meta: %w", err)
	}
	return v, nil
}

// InitMeta sets a value unless one is set, and returns the value in force.
func (s *Store) InitMeta(ctx context.Context, key, value string) (string, error) {
	err := s.exclusive(func() error {
		_, err := s.writer.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, value)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("sqlite: init meta: %w", err)
	}
	var v string
	if err := s.writer.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v); err != nil {
		return "", fmt.Errorf("sqlite: init meta: %w", err)
	}
	return v, nil
}

// SetMeta writes a metadata value.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	err := s.exclusive(func() error {
		_, err := s.writer.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: set meta: %w", err)
	}
	return nil
}

// querier is what a view reads through: the reader pool, or one read
// transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// view implements the audit reads over a querier.
type view struct{ q querier }

// Audit runs fn against one read transaction: in WAL mode every read in it
// sees the same snapshot, whatever commits meanwhile.
func (s *Store) Audit(ctx context.Context, fn func(publicmask.AuditReader) error) error {
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: audit: %w", err)
	}
	defer tx.Rollback()
	return fn(view{tx})
}

var _ publicmask.Store = (*Store)(nil)

// NewEpoch appends an epoch that starts at the last assigned version, under
// the writer lock (versions are assigned under it).
func (s *Store) NewEpoch(ctx context.Context, id string) (publicmask.Epochs, error) {
	var es publicmask.Epochs
	err := s.exclusive(func() error {
		var raw string
		err := s.writer.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, publicmask.MetaEpochs).Scan(&raw)
		if err != nil && !isNoRows(err) {
			return err
		}
		es = publicmask.ParseEpochs(raw).With(publicmask.Epoch{ID: id, Start: s.version})
		_, err = s.writer.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, publicmask.MetaEpochs, es.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: new epoch: %w", err)
	}
	return es, nil
}

// Epochs reads the chain of epochs.
func (s *Store) Epochs(ctx context.Context) (publicmask.Epochs, error) {
	raw, err := s.Meta(ctx, publicmask.MetaEpochs)
	if err != nil {
		return nil, err
	}
	return publicmask.ParseEpochs(raw), nil
}
