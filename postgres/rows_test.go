package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/publicmask/publicmask"
)

// TestPersonWeekRowsWrittenInLockOrder: whatever order a batch's sales
// wrote them in, new and updated person-week rows go out in (week, person)
// order, the order rows are locked in, so two transactions inserting some
// of the same new rows meet on the first shared one (the loser fails at once
// on the primary key) instead of each holding one the other waits for.
func TestPersonWeekRowsWrittenInLockOrder(t *testing.T) {
	var r rowBuffer
	for _, k := range []struct {
		week, person string
		insert       bool
	}{
		{"2020-03-16", "b", true}, {"2020-03-09", "c", true}, {"2020-03-09", "a", true},
		{"2020-03-09", "z", false}, {"2020-03-02", "y", false}, {"2020-03-09", "c", true}, // written twice: one row
	} {
		r.putPW(publicmask.PersonWeek{Person: k.person, Week: k.week}, k.insert)
	}
	var b pgx.Batch
	r.queue(&b)
	want := map[string][]string{
		sqlPWsInsert: {"2020-03-09/a", "2020-03-09/c", "2020-03-16/b"},
		sqlPWsUpsert: {"2020-03-02/y", "2020-03-09/z"},
	}
	for _, q := range b.QueuedQueries {
		w, ok := want[q.SQL]
		if !ok {
			continue
		}
		persons, weeks := q.Arguments[0].([]string), q.Arguments[1].([]string)
		var got []string
		for i := range persons {
			got = append(got, weeks[i]+"/"+persons[i])
		}
		if !slices.Equal(got, w) {
			t.Errorf("rows %v, want %v", got, w)
		}
		delete(want, q.SQL)
	}
	if len(want) > 0 {
		t.Errorf("statements not queued: %v", want)
	}
}

// TestSalesSeqFollowsInsertOrder: sales.seq, which verify walks to replay one
// person's sales in the order they were judged, follows the order of
// InsertSale calls within one multi-row statement (IDs deliberately out of
// order).
func TestSalesSeqFollowsInsertOrder(t *testing.T) {
	s := openTest(t, Options{})
	seedOutlets(t, s, "A")
	ctx := context.Background()
	at := time.Date(2020, 3, 11, 1, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 200 {
		ids = append(ids, fmt.Sprintf("s%03d", (i*37)%200))
	}
	err := s.Write(ctx, func(tx publicmask.Tx) error {
		for i, id := range ids {
			if err := tx.InsertSale(&publicmask.Sale{ID: id, Outlet: "A", TxnID: fmt.Sprintf("t%d", i), SoldAt: at, RecordedAt: at, Week: "2020-03-09", Quantity: 1,
				Items: []publicmask.SaleItem{{Role: "buyer", Person: "p", Category: "adult", BirthYear: 1983, Quantity: 1}}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := s.SalesSince(ctx, time.Time{}, func(s publicmask.Sale) error { got = append(got, s.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("sales in seq order %v\nwant the insertion order %v", got, ids)
	}
}

// TestBufferedRowsPlannedOnce: a batch's multi-row INSERTs, and the key
// checks PostgreSQL runs for each of their rows, use one generic plan per
// session instead of one plan per execution (and per row), and that plan
// looks keys up in the index even when it was made on a vacuumed, empty
// sales table, where a plan chosen by cost scans the table for every
// checked sale item. The session's own setting is unchanged afterwards.
func TestBufferedRowsPlannedOnce(t *testing.T) {
	s := openTest(t, Options{MaxConns: 1}) // one session: its prepared statements are the store's
	seedOutlets(t, s, "A")
	ctx := context.Background()
	if _, err := s.Pool().Exec(ctx, `VACUUM ANALYZE sales, sale_items`); err != nil {
		t.Fatal(err)
	}
	// The migrations scanned sales (index builds): count from here, once the
	// migrating session's statistics have arrived.
	seqScansOf := func(st *Store) (n int64) {
		if err := st.Pool().QueryRow(ctx, `SELECT seq_scan FROM pg_stat_user_tables WHERE relid = 'sales'::regclass`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := seqScansOf(s)
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		n := seqScansOf(s)
		if n == before && n > 0 {
			break
		}
		before = n
	}
	at := time.Date(2020, 3, 11, 1, 0, 0, 0, time.UTC)
	const batches, perBatch = 8, 5
	for b := range batches {
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			for i := range perBatch {
				id := fmt.Sprintf("s%d-%d", b, i)
				if err := tx.InsertSale(&publicmask.Sale{ID: id, Outlet: "A", TxnID: id, SoldAt: at, RecordedAt: at, Week: "2020-03-09", Quantity: 1,
					Items: []publicmask.SaleItem{{Role: "buyer", Person: id, Category: "adult", BirthYear: 1983, Quantity: 1}}}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	conn, err := s.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{sqlSalesPut, sqlItemsPut} {
		genericPlansOnly(t, conn, sql, batches)
	}
	storePlanning(t, conn, "the writes")
	conn.Release()
	s.Close() // the session ends and reports its table statistics
	other := openSame(t, s)
	var seqScans, inserted int64
	for deadline := time.Now().Add(10 * time.Second); ; {
		if err := other.Pool().QueryRow(ctx, `SELECT seq_scan, (SELECT n_tup_ins FROM pg_stat_user_tables WHERE relid = 'sale_items'::regclass)
			FROM pg_stat_user_tables WHERE relid = 'sales'::regclass`).Scan(&seqScans, &inserted); err != nil {
			t.Fatal(err)
		}
		if inserted >= batches*perBatch || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if inserted < batches*perBatch {
		t.Fatalf("statistics show %d sale items inserted, want %d", inserted, batches*perBatch)
	}
	if seqScans != before {
		t.Errorf("sales was scanned sequentially %d times while %d sale items were checked against it", seqScans-before, inserted)
	}
}

// TestGenericPlansStayKeyed: the batch's locking reads and the stamp of its
// outlets (sqlStampKeyed) run with generic plans (see sqlPlanOnce), made
// here while the tables are
// empty and vacuumed, and still look each key up in its primary key once
// the tables have grown: a batch of three keys reads a handful of index
// entries, not the thousands of rows the tables now hold. (The join form
// "unnest(…) JOIN outlets", planned generically on the empty table, read
// the whole primary key into a Materialize node for every batch.)
func TestGenericPlansStayKeyed(t *testing.T) {
	s := openTest(t, Options{MaxConns: 1}) // one session: its prepared statements are the store's
	ctx := context.Background()
	seedOutlets(t, s, "A")
	const week = "2020-03-09"
	for _, q := range []string{
		// No ANALYZE of the grown tables below: it would replace the plans.
		`ALTER TABLE outlets SET (autovacuum_enabled = false)`, `ALTER TABLE idempotency SET (autovacuum_enabled = false)`,
		`ALTER TABLE person_weeks SET (autovacuum_enabled = false)`,
		`VACUUM ANALYZE outlets, idempotency, person_weeks`,
	} {
		if _, err := s.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	batch := func(codes []string, persons []string, txn string) {
		t.Helper()
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			r := publicmask.BatchReads{Outlets: codes, PersonWeeks: map[string][]string{week: persons}}
			for _, c := range codes {
				r.Idem = append(r.Idem, publicmask.IdemKey{Outlet: c, TxnID: txn})
			}
			if err := tx.(publicmask.Prefetcher).Prefetch(r); err != nil {
				return err
			}
			for _, c := range codes {
				o, err := tx.LockOutlet(c)
				if err != nil {
					return err
				}
				o.Stock++
				if err := tx.SaveOutlet(&o); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	batch([]string{"A"}, []string{"p"}, "t0") // the plans are made here
	conn, err := s.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{sqlLockOutlets, sqlIdemGets, sqlPWLocks, sqlStampKeyed} {
		var generic, custom int64
		if err := conn.QueryRow(ctx, `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1`, sql).Scan(&generic, &custom); err != nil {
			t.Fatalf("%.30s…: %v", sql, err)
		}
		if generic == 0 || custom != 0 {
			t.Errorf("%.30s…: %d generic and %d custom plans, want only generic ones", sql, generic, custom)
		}
	}
	conn.Release()
	// Grow the tables from another session, without statistics.
	other := openSame(t, s)
	const rows = 20000
	for _, q := range []string{
		`INSERT INTO outlets (code, name, addr, type, lat, lng, version) SELECT 'g' || i, 'n', 'a', '01', 37, 127, 0 FROM generate_series(1, $1) i`,
		`INSERT INTO idempotency (outlet, txn_id, body_hash, response, created_at) SELECT 'g' || i, 't', 'h', '\x00', now() FROM generate_series(1, $1) i`,
		`INSERT INTO person_weeks (person, week, quantity, purchases, weekday_purchases, weekend_purchases) SELECT 'g' || i, '` + week + `', 1, 1, 1, 0 FROM generate_series(1, $1) i`,
	} {
		if _, err := other.Pool().Exec(ctx, q, rows); err != nil {
			t.Fatal(err)
		}
	}
	batch([]string{"A", "g1", "g2"}, []string{"g1", "g2", "p"}, "t1")
	batch([]string{"A", "g3", "g4"}, []string{"g3", "g4", "p"}, "t2")
	s.Close() // the session ends and reports its statistics
	// The ended session's statistics arrive once; wait for a count that
	// holds still for half a second, so that a count read while only some
	// of them had arrived cannot pass for a small one.
	var read, last int64
	stable := 0
	for deadline := time.Now().Add(10 * time.Second); ; {
		if err := other.Pool().QueryRow(ctx, `SELECT COALESCE(SUM(idx_tup_read), 0)  FROM pg_stat_user_indexes
			WHERE schemaname = current_schema() AND indexrelname IN ('outlets_pkey', 'idempotency_pkey', 'person_weeks_pkey')`).Scan(&read); err != nil {
			t.Fatal(err)
		}
		if read > 0 && read == last {
			stable++
		} else {
			stable = 0
		}
		last = read
		if stable >= 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if read == 0 || read > 200 {
		t.Errorf("three batches read %d primary-key entries of outlets, idempotency and person_weeks (%d rows each), want a few dozen", read, rows)
	}
}
