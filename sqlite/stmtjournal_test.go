package sqlite

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// explainOps lists the opcodes of q's program (EXPLAIN, args parameters
// bound to NULL) that keep says to keep.
func explainOps(t *testing.T, s *Store, q string, args int, keep func(op string, p1, p2 int64) bool) []string {
	t.Helper()
	rows, err := s.writer.Query(`EXPLAIN `+q, make([]any, args)...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ops []string
	for rows.Next() {
		var addr, p1, p2, p3 int64
		var op string
		var p4, p5, comment any
		if err := rows.Scan(&addr, &op, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
			t.Fatal(err)
		}
		if keep(op, p1, p2) {
			ops = append(ops, op)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ops
}

// abortHalts lists the constraint halts of q's program that abort only the
// statement (OE_Abort): each makes SQLite open a statement journal for a
// multi-row write and copy every page the statement changes into it.
func abortHalts(t *testing.T, s *Store, q string, args int) []string {
	t.Helper()
	return explainOps(t, s, q, args, func(op string, p1, p2 int64) bool {
		return strings.HasPrefix(op, "Halt") && p1 != 0 && p2 == 2 // OE_Abort
	})
}

// TestSaleWritesWithoutStatementJournal: the multi-row writes of a batch's
// sales and items, its new persons' weeks, its records and its outlets'
// stock may not abort only themselves. The batch fails as a whole on any error (and is then retried
// one sale at a time), so a statement-level rollback buys nothing, yet it
// costs a copy of every page the statement changes into the statement
// journal. Two statements keep theirs: the person-weeks' upsert (its DO
// UPDATE checks NOT NULL with ABORT whatever the insert says), used only
// for rows the database may hold, and the change log's INSERT OR REPLACE
// (REPLACE aborts on a NULL code), which writes appended pages.
func TestSaleWritesWithoutStatementJournal(t *testing.T) {
	s := openTest(t)
	for _, m := range []*multiSQL{&multiIdem, &multiPWNew, &multiSale, &multiSalePlain, &multiSaleBuyer, &multiItem, &multiOutlet} {
		for _, n := range []int{1, 2, maxMultiRows} {
			if h := abortHalts(t, s, m.query(n), n*m.cols); len(h) > 0 {
				t.Errorf("%.40s… of %d rows aborts the statement alone: %v", m.head, n, h)
			}
		}
	}
}

// TestNewPersonWeeksInsertedPlainly: a person-week that PersonWeeks found
// without a row is written by the plain insert, any other by the upsert,
// and both read back as written: across a flush in the middle of a
// transaction, a second purchase in the same batch and the next batch.
func TestNewPersonWeeksInsertedPlainly(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	const week = "2020-03-09"
	buy := func(w publicmask.Tx, person string, q int) publicmask.PersonWeek {
		t.Helper()
		usage, err := w.PersonWeeks(week, []string{person})
		if err != nil {
			t.Fatal(err)
		}
		pw := usage[person]
		pw.Person, pw.Week = person, week
		pw.Add(q, false)
		if err := w.PutPersonWeek(pw); err != nil {
			t.Fatal(err)
		}
		return pw
	}
	held := func(w publicmask.Tx) (all, fresh int) {
		p := &w.(*tx).pend
		return len(p.pws), p.newPWs
	}
	if err := s.Write(ctx, func(tx publicmask.Tx) error {
		buy(tx, "a", 2)
		buy(tx, "b", 1)
		buy(tx, "a", 1) // the same batch again: still the one new row
		if all, fresh := held(tx); all != 2 || fresh != 2 {
			t.Fatalf("held %d person-weeks, %d new; want 2, 2", all, fresh)
		}
		// A new outlet is upserted at once, after the held rows; a's row
		// is then the database's, and its next value an update.
		if err := tx.SaveOutlet(&publicmask.Outlet{Code: "10000001", Name: "약국", Addr: "서울", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127, UpdatedAt: time.Unix(1583884800, 0)}); err != nil {
			return err
		}
		buy(tx, "a", 1)
		buy(tx, "c", 2)
		if all, fresh := held(tx); all != 2 || fresh != 1 {
			t.Fatalf("after the flush: held %d person-weeks, %d new; want 2, 1", all, fresh)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.builds.Wait() // the week's filter answers the next batch's reads
	if err := s.Write(ctx, func(tx publicmask.Tx) error {
		buy(tx, "b", 1)
		buy(tx, "d", 2)
		if all, fresh := held(tx); all != 2 || fresh != 1 {
			t.Fatalf("next batch: held %d person-weeks, %d new; want 2, 1", all, fresh)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string]publicmask.Usage{"a": {Quantity: 4, Purchases: 3, WeekdayPurchases: 3}, "b": {Quantity: 2, Purchases: 2, WeekdayPurchases: 2},
		"c": {Quantity: 2, Purchases: 1, WeekdayPurchases: 1}, "d": {Quantity: 2, Purchases: 1, WeekdayPurchases: 1}}
	if err := s.Write(ctx, func(tx publicmask.Tx) error {
		got, err := tx.PersonWeeks(week, []string{"a", "b", "c", "d"})
		if err != nil {
			return err
		}
		for p, u := range want {
			if got[p].Usage != u {
				t.Errorf("%s: %+v, want %+v", p, got[p].Usage, u)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// A person-week held as new whose row exists after all (here a row
// written behind the filter's back): the plain insert fails, SQLite rolls
// the whole transaction back — a sale flushed earlier in it included —, the
// store drops its hot state, and the next attempt reads the row and
// updates it: the usage it held is kept, never overwritten.
func TestNewPersonWeekThatExistsFailsTheBatchWhole(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	const week = "2020-03-09"
	at := time.Unix(1583884800, 0)
	outlet := &publicmask.Outlet{Code: "10000001", Name: "약국", Addr: "서울", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127, Stock: 100, UpdatedAt: at}
	if err := s.Write(ctx, func(tx publicmask.Tx) error {
		if _, err := tx.PersonWeeks(week, []string{"a"}); err != nil { // the week's filter is built
			return err
		}
		return tx.SaveOutlet(outlet)
	}); err != nil {
		t.Fatal(err)
	}
	s.builds.Wait()
	if _, err := s.writer.ExecContext(ctx, `INSERT INTO person_weeks VALUES ('z', ?, 2, 1, 1, 0)`, week); err != nil {
		t.Fatal(err)
	}
	buy := func(tx publicmask.Tx, p string) error {
		u, err := tx.PersonWeeks(week, []string{p})
		if err != nil {
			return err
		}
		pw := u[p]
		pw.Person, pw.Week = p, week
		pw.Add(1, false)
		return tx.PutPersonWeek(pw)
	}
	err := s.Write(ctx, func(w publicmask.Tx) error {
		if err := buy(w, "b"); err != nil {
			return err
		}
		if err := w.InsertSale(&publicmask.Sale{ID: "s1", Outlet: outlet.Code, TxnID: "t-s1", SoldAt: at, RecordedAt: at, Week: week, Quantity: 1,
			Items: []publicmask.SaleItem{{Role: "buyer", Person: "b", Quantity: 1}}}); err != nil {
			return err
		}
		if _, err := w.Sale("none"); publicmask.ErrorCode(err) != publicmask.ENotFound { // flushes b and s1
			return err
		}
		if err := buy(w, "z"); err != nil {
			return err
		}
		if p := &w.(*tx).pend; p.newPWs != 1 {
			t.Fatalf("z held with %d new person-weeks, want 1: the filter knew its row", p.newPWs)
		}
		return nil
	})
	if err == nil {
		t.Fatal("a batch whose new person-week had a row committed")
	}
	if len(s.hot.weeks) != 0 {
		t.Errorf("hot state kept after SQLite's own rollback: %d weeks", len(s.hot.weeks))
	}
	count := func(q string, args ...any) int {
		var n int
		if err := s.writer.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM sales`); n != 0 {
		t.Errorf("%d sales of the failed batch committed", n)
	}
	if n := count(`SELECT count(*) FROM person_weeks WHERE person = 'b'`); n != 0 {
		t.Errorf("b's week of the failed batch committed")
	}
	if err := s.Write(ctx, func(w publicmask.Tx) error {
		if err := buy(w, "z"); err != nil {
			return err
		}
		if n := w.(*tx).pend.newPWs; n != 0 {
			t.Errorf("z held as new again on the retry")
		}
		return nil
	}); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	if q := count(`SELECT quantity FROM person_weeks WHERE person = 'z' AND week = ?`, week); q != 3 {
		t.Errorf("z's quantity %d, want 3 (2 before and 1)", q)
	}
}
