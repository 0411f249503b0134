package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/publicmask/publicmask"
)

// Versions and the change feed.
//
// A public node follows OutletChanges(after) with a watermark: the highest
// version it has seen. That is only safe if, once a version v is visible,
// every version below v is visible too. A sequence does not give that:
// nextval is not transactional, so a transaction can take 41, another 42 and
// commit first, and a follower reading 42 moves its watermark past 41 for
// good.
//
// So versions are not taken during the transaction but at its very end: the
// last statement before COMMIT increments the single row of outlet_version
// and stamps the transaction's outlets with the new values. The row lock on
// outlet_version is held until the transaction ends, and PostgreSQL releases
// locks only after the commit is durable and visible. Hence if T1 stamps
// before T2, T2's UPDATE waited for T1's commit to become visible and read
// T1's value (READ COMMITTED re-reads the latest row version after the
// wait): versions are handed out in commit order, with no gaps (a rollback
// rolls the counter back too). Any snapshot that sees version v therefore
// sees every committed version below it, and a follower that moves its
// watermark to the highest version it read can never skip a late commit.
// The same holds on a streaming replica, which replays commits in WAL order.
//
// The cost is that commits of transactions that change outlets are
// serialised: the lock is held from the stamping statement to the end of the
// COMMIT. The ledger's group commit makes that one short critical section
// per batch. The stamping statement is the last lock any transaction takes,
// so it cannot be part of a deadlock.
//
// The flush to disk is kept out of that section. A transaction commits with
// synchronous_commit off: its commit record is written, its changes become
// visible and its locks are released at once, without waiting for the WAL
// flush. In the same pipeline a second, tiny transaction follows
// (sqlFlushWAL: a WAL record and a synchronous commit), which returns only
// once the WAL is flushed past its own commit record, and so past the first
// transaction's. Nobody is answered before that: Write returns only then.
// Commits of the two nodes' writers thus follow one another at the pace of
// their statements, while their flushes overlap and PostgreSQL's group
// commit joins them (one flush a commit before, about 0.3 now:
// BenchmarkOutletCommits, BENCHMARKS.md). Before, every link of the chain
// waited for its own flush, and with it every batch waiting for the version
// lock or for the outlets the one ahead held (issue 12's sale tail).
//
// What a committed but not yet flushed transaction makes visible is never
// given out as settled: another batch that read it commits after it (its
// own flush covers it) before answering anyone, and the change feed reads
// (Outlets, OutletChanges) return only once the WAL is flushed past what
// they saw (durable). A crash of the server before the flush loses the
// transaction and everything committed after it that read it (the WAL is a
// sequence), none of it acknowledged, and the versions it loses are above
// anything a follower has seen, so they can be handed out again. Reads
// outside a write (a person's check, a counter's stock and recent sales)
// may show such a change for those milliseconds: a crash of the server then
// takes back something shown but never acknowledged (the sale's own request
// gets an error and is retried by its txn_id).
//
// With synchronous standbys none of this applies: there a commit stays
// invisible, its locks held, until a standby has it, and a change visible
// on the primary before that could be handed to a follower and lost in a
// failover. So the commit goes without waiting only while the server names
// no synchronous standby, decided by each transaction on the server
// (sqlCommitLater): a standby named later (a reload, or a manager such as
// Patroni filling synchronous_standby_names as standbys come) counts from
// the next transaction on.

const (
	outletCols = `code, name, addr, type, lat, lng, stock, suspended, stock_at, updated_at, version, sold`
	saleCols   = `id, outlet, txn_id, sold_at, recorded_at, week, weekend, quantity, conflict, late, shortfall, cancelled_at`

	sqlBegin  = `BEGIN ISOLATION LEVEL READ COMMITTED`
	sqlCommit = `COMMIT`
	// sqlCommitLater makes the transaction's COMMIT release its locks
	// without waiting for the WAL flush, unless the server names
	// synchronous standbys (then the session's own setting stays, and the
	// COMMIT waits for them, locks held); sqlFlushWAL, a transaction of its
	// own with the session's synchronous commit, then waits for the flush
	// (see above). The message is a WAL record that gives the transaction
	// something to commit durably: an id and a record (a transaction that
	// wrote no WAL would commit without a flush); no one reads it.
	sqlCommitLater = `SELECT set_config('synchronous_commit', CASE WHEN btrim(current_setting('synchronous_standby_names')) = ''
		THEN 'off' ELSE current_setting('synchronous_commit') END, true)`
	sqlFlushWAL   = `SELECT pg_logical_emit_message(true, 'publicmask', '')`
	sqlLockOutlet = `SELECT ` + outletCols + ` FROM outlets WHERE code = $1 FOR UPDATE`
	sqlIdemGet    = `SELECT body_hash, response, created_at FROM idempotency WHERE outlet = $1 AND txn_id = $2`
	sqlIdemPut    = `INSERT INTO idempotency (outlet, txn_id, body_hash, response, created_at) VALUES ($1, $2, $3, $4, $5)`
	// sqlStamp writes the final state of every outlet the transaction
	// changed and stamps each with the next version (see above). For more
	// than stampKeyedMax outlets (a bulk write's chunk) it is planned for
	// each execution: an UPDATE's target can be the outer side of the join,
	// and a generic plan made on an empty table chose a scan of the whole
	// primary key there (sqlPlanOnce).
	sqlStampJoin = `WITH c AS (UPDATE outlet_version SET v = v + $1::bigint WHERE id = 1 RETURNING v)
		UPDATE outlets AS o SET name = d.name, addr = d.addr, type = d.type, lat = d.lat, lng = d.lng,
			stock = d.stock, suspended = d.suspended, stock_at = d.stock_at, updated_at = d.updated_at,
			sold = d.sold, version = c.v - $1::bigint + d.ord
		FROM c, unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::float8[],
			$8::int8[], $9::bool[], $10::timestamptz[], $11::timestamptz[], $12::int8[])
			WITH ORDINALITY AS d(code, name, addr, type, lat, lng, stock, suspended, stock_at, updated_at, sold, ord)
		WHERE o.code = d.code`
	sqlStamp = sqlStampJoin + ` RETURNING o.code, o.version`
	// sqlStampKeyed is sqlStamp for a batch's few outlets (at most
	// stampKeyedMax), planned once per session like the buffered rows
	// (sqlPlanOnce): "o.code = ANY($2)" gives every plan of the target an
	// index condition on the batch's own codes, so no plan — whatever the
	// table held when it was made — reads more of outlets than those rows;
	// the worst join between them and the arrays compares each code with
	// each (TestGenericPlansStayKeyed). Planned for every batch, sqlStamp
	// was the largest planning cost left (about 0.8 ms a batch under load),
	// and on a few thousand outlets its custom plan for a batch of 64 was
	// a sequential scan of outlets hashed against the arrays, run after
	// the outlet_version lock was taken: inside the commit chain.
	sqlStampKeyed = sqlStampJoin + ` AND o.code = ANY($2::text[]) RETURNING o.code, o.version`
	// One exact key per statement: "person = ANY($2) ORDER BY person" let
	// PostgreSQL 15's generic plan scan the whole week in index order.
	sqlPWLock = `SELECT person, quantity, purchases, weekday_purchases, weekend_purchases FROM person_weeks
		WHERE week = $1 AND person = $2 FOR UPDATE`
	sqlPWInsert = `INSERT INTO person_weeks (person, week, quantity, purchases, weekday_purchases, weekend_purchases)
		VALUES ($1, $2, $3, $4, $5, $6)`
	sqlPWUpdate = `UPDATE person_weeks SET quantity = $3, purchases = $4, weekday_purchases = $5, weekend_purchases = $6
		WHERE person = $1 AND week = $2`
	sqlPWUpsert = `INSERT INTO person_weeks (person, week, quantity, purchases, weekday_purchases, weekend_purchases)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (week, person) DO UPDATE SET quantity = excluded.quantity,
		purchases = excluded.purchases, weekday_purchases = excluded.weekday_purchases, weekend_purchases = excluded.weekend_purchases`
	sqlItemPut     = `INSERT INTO sale_items (sale_id, idx, role, person, category, birth_year, quantity) VALUES ($1, $2, $3, $4, $5, $6, $7)`
	sqlSaleLock    = `SELECT ` + saleCols + ` FROM sales WHERE id = $1 FOR UPDATE`
	sqlItemsGet    = `SELECT role, person, category, birth_year, quantity FROM sale_items WHERE sale_id = $1 ORDER BY idx`
	sqlSaleCancel  = `UPDATE sales SET cancelled_at = $1 WHERE id = $2 AND cancelled_at IS NULL`
	sqlDeliveryPut = `INSERT INTO deliveries (id, outlet, txn_id, quantity, at) VALUES ($1, $2, $3, $4, $5)`
	sqlCorrectPut  = `INSERT INTO corrections (id, outlet, txn_id, kind, sale_id, count, delta, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	sqlSuspStart   = `INSERT INTO suspensions (outlet, since) VALUES ($1, $2) ON CONFLICT (outlet, since) DO UPDATE SET until = NULL`
	sqlSuspEnd     = `UPDATE suspensions SET until = $1 WHERE outlet = $2 AND until IS NULL`
	sqlSuspAt      = `SELECT EXISTS (SELECT 1 FROM suspensions WHERE outlet = $1 AND since <= $2 AND (until IS NULL OR until > $2))`
	sqlTokenRevoke = `UPDATE tokens SET revoked_at = $1 WHERE hash = $2 AND revoked_at IS NULL`
)

// stampKeyedMax is the most outlets a transaction stamps with sqlStampKeyed
// (a batch of sales, at most 64 on PostgreSQL, touches as many); a bulk
// write's chunk has sqlStamp planned for it.
const stampKeyedMax = 64

type pwKey struct{ person, week string }

// outletState is an outlet row as this transaction holds it (locked, or
// written by it).
type outletState struct {
	o     publicmask.Outlet
	found bool
}

type tx struct {
	s    *Store
	ctx  context.Context
	conn *pgx.Conn

	b          *pgx.Batch // queued statements, sent with the next read or at commit
	sent       bool       // BEGIN has gone out
	sentCommit bool       // COMMIT has gone out: the outcome may be unknown
	err        error      // sticky: a statement failed, the transaction is aborted

	outlets map[string]*outletState
	dirty   []string                        // changed outlet codes, in first-change order
	stamp   map[string][]*publicmask.Outlet // pointers whose Version is set after commit
	pw      map[pwKey]bool                  // person-week rows known to exist (true) or to be absent (false)

	// Rows this transaction has read (or written) and may answer from
	// memory: it holds their locks (see Prefetch).
	pwRows map[pwKey]publicmask.PersonWeek               // existing rows among pw, as they stand now
	idem   map[publicmask.IdemKey]*publicmask.IdemRecord // looked up; nil when absent
	sales  map[string]*publicmask.Sale                   // locked by Prefetch, as they stand now

	rows rowBuffer // writes waiting to go out as multi-row statements
	// generic: sqlPlanOnce's LOCAL settings are queued and in force for
	// the statements queued after them, until sqlPlanEach (see planOnce).
	generic bool
}

func newTx(s *Store, ctx context.Context, conn *pgx.Conn) *tx {
	t := &tx{s: s, ctx: ctx, conn: conn, outlets: make(map[string]*outletState), stamp: make(map[string][]*publicmask.Outlet), pw: make(map[pwKey]bool),
		pwRows: make(map[pwKey]publicmask.PersonWeek), idem: make(map[publicmask.IdemKey]*publicmask.IdemRecord),
		sales: make(map[string]*publicmask.Sale)}
	t.b = &pgx.Batch{}
	t.b.Queue(sqlBegin) // goes out with the first read: no round trip of its own
	return t
}

// send runs the queued statements plus whatever the caller queued after
// them in one pipeline, and starts a new queue.
func (t *tx) send() error {
	if t.err != nil {
		return t.err
	}
	b := t.b
	t.b = &pgx.Batch{}
	t.sent = true
	if err := t.conn.SendBatch(t.ctx, b).Close(); err != nil {
		t.err = t.wrap(err)
		return t.err
	}
	return nil
}

func (t *tx) wrap(err error) error { return unavailable("write", err) }

// exec queues a write whose result nobody waits for. Nothing may be checked
// on the client side here: the queue may end in COMMIT, which the server runs
// unless a statement before it failed on the server.
func (t *tx) exec(sql string, args ...any) error {
	if t.err != nil {
		return t.err
	}
	t.queue(sql, args...)
	return nil
}

// queue queues a statement planned for each execution (the session's
// plan_cache_mode, see Open) after the buffered rows, which it may depend
// on.
func (t *tx) queue(sql string, args ...any) *pgx.QueuedQuery {
	t.flushRows()
	t.planEach()
	return t.b.Queue(sql, args...)
}

// queueOnce queues a statement planned once per session (see sqlPlanOnce)
// after the buffered rows.
func (t *tx) queueOnce(sql string, args ...any) *pgx.QueuedQuery {
	t.flushRows()
	t.planOnce()
	return t.b.Queue(sql, args...)
}

// flushRows queues the buffered rows, planned once per session.
func (t *tx) flushRows() {
	if !t.rows.empty() {
		t.planOnce()
		t.rows.queue(t.b)
	}
}

// planOnce and planEach switch the planning of the statements queued next
// between sqlPlanOnce and the session's, only when it changes: a batch of
// sales runs its locking reads, its rows and its stamp under one
// sqlPlanOnce, and its COMMIT ends the LOCAL settings.
func (t *tx) planOnce() {
	if !t.generic {
		queueAll(t.b, sqlPlanOnce)
		t.generic = true
	}
}

func (t *tx) planEach() {
	if t.generic {
		queueAll(t.b, sqlPlanEach)
		t.generic = false
	}
}

func (t *tx) rollback() {
	if !t.sent || t.conn.IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), 2*time.Second)
	defer cancel()
	if _, err := t.conn.Exec(ctx, "ROLLBACK"); err != nil {
		t.conn.Close(ctx) // the pool replaces it
	}
}

// commit writes and stamps the changed outlets and commits, in one round
// trip. Versions reach the callers' outlets only once the commit succeeded.
func (t *tx) commit() error {
	if t.err != nil {
		return t.err
	}
	if !t.sent && t.b.Len() == 1 && len(t.dirty) == 0 && t.rows.empty() {
		return nil // fn did nothing: no need to talk to the server
	}
	versions := make(map[string]int64, len(t.dirty))
	if n := len(t.dirty); n > 0 {
		codes, names, addrs, types := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		lats, lngs := make([]float64, n), make([]float64, n)
		stocks, solds, susp := make([]int64, n), make([]int64, n), make([]bool, n)
		stockAt, updAt := make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
		for i, code := range t.dirty {
			o := t.outlets[code].o
			codes[i], names[i], addrs[i], types[i] = o.Code, o.Name, o.Addr, o.Type
			lats[i], lngs[i], stocks[i], susp[i] = o.Lat, o.Lng, int64(o.Stock), o.Suspended
			stockAt[i], updAt[i], solds[i] = tstz(o.StockAt), tstz(o.UpdatedAt), int64(o.Sold)
		}
		args := []any{int64(n), codes, names, addrs, types, lats, lngs, stocks, susp, stockAt, updAt, solds}
		var q *pgx.QueuedQuery
		if n <= stampKeyedMax {
			q = t.queueOnce(sqlStampKeyed, args...)
		} else {
			q = t.queue(sqlStamp, args...)
		}
		q.Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var code string
				var v int64
				if err := rows.Scan(&code, &v); err != nil {
					return err
				}
				versions[code] = v
			}
			return rows.Err()
		})
	}
	if t.s.afterStamp != nil && len(t.dirty) > 0 {
		// Tests only: hold the stamped, uncommitted versions for a while.
		if err := t.send(); err != nil {
			return err
		}
		t.s.afterStamp()
	}
	t.flushRows() // the COMMIT needs no planning and ends the LOCAL settings
	t.b.Queue(sqlCommitLater)
	queueCommit(t.b)
	t.sentCommit = true
	if t.s.afterCommit != nil {
		// Tests only: look at the WAL between the COMMIT and the flush.
		if err := t.send(); err != nil {
			return err
		}
		t.s.afterCommit()
	}
	// In the same round trip: the flush that makes the commit durable.
	t.b.Queue(sqlBegin)
	t.b.Queue(sqlFlushWAL)
	queueCommit(t.b)
	if err := t.send(); err != nil {
		return err
	}
	if len(versions) != len(t.dirty) {
		return fmt.Errorf("postgres: stamped %d of %d outlets", len(versions), len(t.dirty))
	}
	for code, ptrs := range t.stamp {
		for _, p := range ptrs {
			p.Version = versions[code]
		}
	}
	return nil
}

// queueCommit queues a COMMIT that fails unless it committed.
func queueCommit(b *pgx.Batch) {
	b.Queue(sqlCommit).Exec(func(ct pgconn.CommandTag) error {
		if ct.String() != "COMMIT" { // a failed transaction "commits" as ROLLBACK
			return fmt.Errorf("postgres: commit answered %q", ct.String())
		}
		return nil
	})
}

func tstz(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

func fromTstz(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// queueLockOutlet queues the locking read of an outlet and caches the row.
func (t *tx) queueLockOutlet(code string) {
	t.queue(sqlLockOutlet, code).QueryRow(func(row pgx.Row) error {
		o, err := scanOutlet(row)
		if errors.Is(err, pgx.ErrNoRows) {
			t.outlets[code] = &outletState{o: publicmask.Outlet{Code: code}}
			return nil
		}
		if err != nil {
			return err
		}
		t.outlets[code] = &outletState{o: o, found: true}
		return nil
	})
}

// Idempotency looks up a txn_id. It first locks the outlet row (which the
// request is about to lock anyway), in the same round trip: every record of
// an outlet is written under that lock, so a request racing another with
// the same txn_id on another node waits here and then sees the first
// answer, instead of being judged against the quota the first one used up.
func (t *tx) Idempotency(outlet, txnID string) (publicmask.IdemRecord, bool, error) {
	r := publicmask.IdemRecord{Outlet: outlet, TxnID: txnID}
	if t.err != nil {
		return r, false, t.err
	}
	_, locked := t.outlets[outlet]
	if rec, ok := t.idem[publicmask.IdemKey{Outlet: outlet, TxnID: txnID}]; ok && locked {
		if rec == nil {
			return r, false, nil
		}
		return *rec, true, nil
	}
	if !locked {
		t.queueLockOutlet(outlet)
	}
	found := false
	t.queue(sqlIdemGet, outlet, txnID).QueryRow(func(row pgx.Row) error {
		var created pgtype.Timestamptz
		err := row.Scan(&r.BodyHash, &r.Response, &created)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		r.CreatedAt, found = fromTstz(created), true
		return nil
	})
	if err := t.send(); err != nil {
		return r, false, err
	}
	return r, found, nil
}

func (t *tx) PutIdempotency(r publicmask.IdemRecord) error {
	if t.err != nil {
		return t.err
	}
	t.idem[publicmask.IdemKey{Outlet: r.Outlet, TxnID: r.TxnID}] = &r
	t.rows.idem = append(t.rows.idem, r)
	return nil
}

func (t *tx) LockOutlet(code string) (publicmask.Outlet, error) {
	if t.err != nil {
		return publicmask.Outlet{}, t.err
	}
	st, ok := t.outlets[code]
	if !ok {
		t.queueLockOutlet(code)
		if err := t.send(); err != nil {
			return publicmask.Outlet{}, err
		}
		st = t.outlets[code]
	}
	if !st.found {
		return publicmask.Outlet{}, publicmask.Errorf(publicmask.ENotFound, "outlet %q not found", code)
	}
	return st.o, nil
}

// SaveOutlet records the outlet's new state. An outlet this transaction has
// not seen in the database is inserted before any later statement (which
// may refer to it): the buffered rows go out first, and an import's new
// outlets as one statement (rowBuffer), not one each; every changed outlet
// is written, once, by the stamping statement at commit, when o.Version is
// set.
func (t *tx) SaveOutlet(o *publicmask.Outlet) error {
	if t.err != nil {
		return t.err
	}
	st, ok := t.outlets[o.Code]
	if !ok || !st.found {
		t.rows.outlets = append(t.rows.outlets, *o)
	}
	t.outlets[o.Code] = &outletState{o: *o, found: true}
	ptrs, seen := t.stamp[o.Code]
	if !seen {
		t.dirty = append(t.dirty, o.Code)
	}
	if !slices.Contains(ptrs, o) {
		t.stamp[o.Code] = append(ptrs, o)
	}
	return nil
}

func (t *tx) PersonWeeks(week string, persons []string) (map[string]publicmask.PersonWeek, error) {
	out := make(map[string]publicmask.PersonWeek, len(persons))
	if t.err != nil {
		return nil, t.err
	}
	if len(persons) == 0 {
		return out, nil
	}
	if t.knownWeeks(week, persons, out) {
		return out, nil
	}
	clear(out)
	// Rows are locked in key order, one statement after the other in one
	// round trip, so two transactions locking overlapping sets of persons
	// cannot deadlock on them.
	sorted := slices.Clone(persons)
	slices.Sort(sorted)
	for _, p := range slices.Compact(sorted) {
		t.queuePWLock(week, p, out)
	}
	if err := t.send(); err != nil {
		return nil, err
	}
	for _, p := range persons {
		t.notePW(week, p, out)
	}
	return out, nil
}

// queuePWLock queues the locking read of one person-week row into out.
func (t *tx) queuePWLock(week, person string, out map[string]publicmask.PersonWeek) {
	t.queue(sqlPWLock, week, person).QueryRow(func(row pgx.Row) error {
		pw := publicmask.PersonWeek{Week: week}
		err := row.Scan(&pw.Person, &pw.Quantity, &pw.Purchases, &pw.WeekdayPurchases, &pw.WeekendPurchases)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		out[pw.Person] = pw
		return nil
	})
}

// notePW records what a locking read found for one person-week.
func (t *tx) notePW(week, person string, out map[string]publicmask.PersonWeek) {
	k := pwKey{person, week}
	pw, ok := out[person]
	t.pw[k] = ok
	if ok {
		t.pwRows[k] = pw
	}
}

// knownWeeks answers PersonWeeks from rows this transaction has read or
// written, if it knows them all.
func (t *tx) knownWeeks(week string, persons []string, out map[string]publicmask.PersonWeek) bool {
	for _, p := range persons {
		k := pwKey{p, week}
		exists, known := t.pw[k]
		if !known {
			return false
		}
		if exists {
			out[p] = t.pwRows[k]
		}
	}
	return true
}

// PutPersonWeek updates a row this transaction holds locked, or inserts one
// it read as absent. An absent row cannot be locked in advance (and a
// placeholder row per check would cost a write for every rejection), so two
// transactions may both read it as absent: the second INSERT then waits for
// the first to commit and fails with a unique violation on person_weeks_pkey,
// which aborts the transaction on the server (nothing after it, COMMIT
// included, runs) and makes Write run fn again, now seeing and locking the row.
func (t *tx) PutPersonWeek(pw publicmask.PersonWeek) error {
	if t.err != nil {
		return t.err
	}
	k := pwKey{pw.Person, pw.Week}
	exists, known := t.pw[k]
	t.pw[k] = true
	t.pwRows[k] = pw
	// A row read as absent is inserted (so that a concurrent insert of the
	// same row fails, see above); a row locked by this transaction, or one
	// written without reading it first, is upserted.
	t.rows.putPW(pw, known && !exists)
	return nil
}

func (t *tx) InsertSale(s *publicmask.Sale) error {
	if t.err != nil {
		return t.err
	}
	t.rows.addSale(s)
	return nil
}

// Sale reads a sale and locks it, so that two nodes cancelling the same
// sale at once give the quota and stock back only once. A sale Prefetch
// locked is answered from memory.
func (t *tx) Sale(id string) (publicmask.Sale, error) {
	var s publicmask.Sale
	if t.err != nil {
		return s, t.err
	}
	if c, ok := t.sales[id]; ok {
		s = *c
		s.Items = slices.Clone(c.Items)
		return s, nil
	}
	found := false
	t.queue(sqlSaleLock, id).QueryRow(func(row pgx.Row) error {
		var err error
		s, err = scanSale(row)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	t.queue(sqlItemsGet, id).Query(func(rows pgx.Rows) error {
		var err error
		s.Items, err = scanItems(rows)
		return err
	})
	if err := t.send(); err != nil {
		return publicmask.Sale{}, err
	}
	if !found {
		return publicmask.Sale{}, publicmask.Errorf(publicmask.ENotFound, "sale %q not found", id)
	}
	return s, nil
}

func (t *tx) MarkSaleCancelled(id string, at time.Time) error {
	if s, ok := t.sales[id]; ok && s.CancelledAt.IsZero() {
		s.CancelledAt = at.UTC()
	}
	return t.exec(sqlSaleCancel, at, id)
}

func (t *tx) InsertDelivery(d *publicmask.Delivery) error {
	return t.exec(sqlDeliveryPut, d.ID, d.Outlet, d.TxnID, d.Quantity, d.At)
}

func (t *tx) InsertCorrection(c *publicmask.Correction) error {
	kind := c.Kind
	if kind == "" {
		kind = publicmask.CorrectionCount
	}
	return t.exec(sqlCorrectPut, c.ID, c.Outlet, c.TxnID, kind, c.SaleID, c.Count, c.Delta, c.At)
}

func (t *tx) StartSuspension(outlet string, at time.Time) error {
	return t.exec(sqlSuspStart, outlet, at)
}

func (t *tx) EndSuspension(outlet string, at time.Time) error {
	return t.exec(sqlSuspEnd, at, outlet)
}

// SuspendedAt reads the suspension history; the caller holds the outlet's
// row lock, under which every change of that history is written.
func (t *tx) SuspendedAt(outlet string, at time.Time) (bool, error) {
	if t.err != nil {
		return false, t.err
	}
	var b bool
	t.queue(sqlSuspAt, outlet, at).QueryRow(func(row pgx.Row) error { return row.Scan(&b) })
	if err := t.send(); err != nil {
		return false, err
	}
	return b, nil
}

// PutToken buffers the token: the day's tokens for every outlet go out as
// one multi-row INSERT (see rowBuffer), not one statement each.
func (t *tx) PutToken(tk publicmask.Token) error {
	if t.err != nil {
		return t.err
	}
	t.rows.tokens = append(t.rows.tokens, tk)
	return nil
}

func (t *tx) RevokeToken(hash string, at time.Time) error {
	return t.exec(sqlTokenRevoke, at, hash)
}

func scanOutlet(r pgx.Row) (publicmask.Outlet, error) {
	var o publicmask.Outlet
	var stock, sold int64 // BIGINT: stock is never narrowed to 32 bits
	var stockAt, updatedAt pgtype.Timestamptz
	err := r.Scan(&o.Code, &o.Name, &o.Addr, &o.Type, &o.Lat, &o.Lng, &stock, &o.Suspended, &stockAt, &updatedAt, &o.Version, &sold)
	o.Stock, o.Sold = int(stock), int(sold)
	o.StockAt, o.UpdatedAt = fromTstz(stockAt), fromTstz(updatedAt)
	return o, err
}

func scanSale(r pgx.Row) (publicmask.Sale, error) {
	var s publicmask.Sale
	var soldAt, recordedAt, cancelled pgtype.Timestamptz
	var qty, short int32
	err := r.Scan(&s.ID, &s.Outlet, &s.TxnID, &soldAt, &recordedAt, &s.Week, &s.Weekend, &qty, &s.Conflict, &s.Late, &short, &cancelled)
	s.Quantity, s.Shortfall = int(qty), int(short)
	s.SoldAt, s.RecordedAt, s.CancelledAt = fromTstz(soldAt), fromTstz(recordedAt), fromTstz(cancelled)
	return s, err
}

func scanItems(rows pgx.Rows) ([]publicmask.SaleItem, error) {
	defer rows.Close()
	var items []publicmask.SaleItem
	for rows.Next() {
		var it publicmask.SaleItem
		var by, q int32
		if err := rows.Scan(&it.Role, &it.Person, &it.Category, &by, &q); err != nil {
			return nil, err
		}
		it.BirthYear, it.Quantity = int(by), int(q)
		items = append(items, it)
	}
	return items, rows.Err()
}

var _ publicmask.Tx = (*tx)(nil)
