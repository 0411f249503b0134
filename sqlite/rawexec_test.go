package sqlite

import (
	"context"
	"database/sql/driver"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// When a write's context ends mid-transaction (the ledger gives each group
// commit a deadline), the held rows written afterwards, on the driver
// connection directly (rawexec.go), must fail, and the transaction be
// rolled back, not committed with them. (Before the transaction itself ran
// on the driver connection, database/sql rolled it back from its own
// goroutine, and a statement run afterwards would have committed alone.)
func TestRawStatementsEndWithTheWritesContext(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if err := s.Write(ctx, func(tx publicmask.Tx) error {
		return tx.SaveOutlet(&publicmask.Outlet{Code: "A", Name: "a", Type: "01", Stock: 100})
	}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := s.Write(wctx, func(tx publicmask.Tx) error {
		o, err := tx.LockOutlet("A")
		if err != nil {
			return err
		}
		if err := tx.InsertDelivery(&publicmask.Delivery{ID: "d1", Outlet: "A", TxnID: "t1", Quantity: 50, At: time.Now()}); err != nil {
			return err
		}
		o.Stock += 50
		if err := tx.SaveOutlet(&o); err != nil { // held until the end (buffer.go)
			return err
		}
		cancel()
		// database/sql's rollback runs on its own goroutine: give it time.
		time.Sleep(100 * time.Millisecond)
		return nil // the held rows are written now
	})
	if err == nil {
		t.Fatal("a write whose context ended before its held rows were written succeeded")
	}
	a, err := s.Outlet(ctx, "A")
	if err != nil {
		t.Fatal(err)
	}
	if a.Stock != 100 {
		t.Errorf("the failed write left stock %d, want 100", a.Stock)
	}
	if err := s.Write(ctx, func(tx publicmask.Tx) error {
		return tx.SaveOutlet(&publicmask.Outlet{Code: "B", Name: "b", Type: "01"})
	}); err != nil {
		t.Fatal(err)
	}
	b, err := s.Outlet(ctx, "B")
	if err != nil {
		t.Fatal(err)
	}
	if b.Version == a.Version {
		t.Errorf("A and B share version %d in the change feed", b.Version)
	}
}

// The bulk reads decode rows from the driver's values (rawOutlet) instead
// of through Scan: each column must come out as scanOutlet gives it —
// suspended, NULL and non-NULL times, whole-degree coordinates (stored as
// REAL) — and a value of another type is an error, not a zero.
func TestRawOutletReadsAsScan(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	at := time.Date(2020, 3, 11, 8, 0, 0, 123456000, time.UTC)
	in := []*publicmask.Outlet{
		{Code: "A", Name: "약국 가", Addr: "서울특별시 중구", Type: "01", Lat: 37, Lng: 127, Stock: 5, Suspended: true, Sold: 3, StockAt: at, UpdatedAt: at.Add(time.Second)},
		{Code: "B", Name: "b", Addr: "", Type: "02", Lat: 37.5665, Lng: 126.978},
	}
	var got map[string]publicmask.Outlet
	if err := s.Write(ctx, func(ptx publicmask.Tx) error {
		return ptx.(*tx).SaveOutlets(in)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, func(ptx publicmask.Tx) error {
		var err error
		got, err = ptx.(*tx).LockOutlets([]string{"A", "B", "C"}) // not held: read from the store
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("LockOutlets found %d outlets, want A and B", len(got))
	}
	for _, code := range []string{"A", "B"} {
		want, err := scanOutlet(s.reader.QueryRowContext(ctx, `SELECT `+outletCols+` FROM `+outletFrom+` WHERE o.code = ?`, code))
		if err != nil {
			t.Fatal(err)
		}
		if got[code] != want {
			t.Errorf("%s read raw %+v, want as Scan gives it %+v", code, got[code], want)
		}
	}
	row := []driver.Value{"A", "a", "", "01", 37.0, 127.0, int64(1), int64(2), nil, nil, int64(1), int64(0)}
	if _, err := rawOutlet(row); err == nil {
		t.Error("suspended 2 read without an error")
	}
	row[7], row[6] = int64(0), "1"
	if _, err := rawOutlet(row); err == nil {
		t.Error("a text stock read without an error")
	}
}

// A write whose context ends after its last statement, with nothing held,
// is not committed: the commit checks the context (database/sql's Commit
// did), the transaction is rolled back on the writer's connection, and the
// next write begins one of its own.
func TestCommitEndsWithTheWritesContext(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := s.Write(wctx, func(tx publicmask.Tx) error {
		if err := tx.PutToken(publicmask.Token{Hash: "h1", Role: publicmask.RoleAdmin, CreatedAt: time.Now()}); err != nil {
			return err
		}
		cancel()
		return nil
	})
	if err == nil {
		t.Fatal("a write whose context ended before its commit succeeded")
	}
	if _, err := s.Token(ctx, "h1"); err == nil {
		t.Error("the token of the write not committed was kept")
	}
	if err := s.Write(ctx, func(tx publicmask.Tx) error {
		return tx.PutToken(publicmask.Token{Hash: "h2", Role: publicmask.RoleAdmin, CreatedAt: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Token(ctx, "h2"); err != nil {
		t.Errorf("the next write's token: %v", err)
	}
	if _, err := s.Token(ctx, "h1"); err == nil {
		t.Error("the token of the write not committed was committed with the next")
	}
}

// A write that panics leaves no transaction open on the writer's
// connection: the next write begins and commits its own. Inside
// sql.Conn.Raw too (a row's callback): were Raw to hand the pool
// driver.ErrBadConn, the pool would drop the connection with its open
// transaction (kept alive by the cached statements, holding the WAL's
// write lock), and every later write would fail with SQLITE_BUSY after the
// busy timeout.
func TestPanicRollsBack(t *testing.T) {
	for _, tc := range []struct {
		name  string
		panic func(*tx) error
	}{
		{"in the write", func(*tx) error { panic("in the write") }},
		{"inside Raw", func(x *tx) error {
			return x.queryRows(`SELECT 1`, nil, func(scanner) error { panic("in a row") })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			ctx := context.Background()
			func() {
				defer func() { _ = recover() }()
				_ = s.Write(ctx, func(ptx publicmask.Tx) error {
					if err := ptx.PutToken(publicmask.Token{Hash: "h1", Role: publicmask.RoleAdmin, CreatedAt: time.Now()}); err != nil {
						return err
					}
					return tc.panic(ptx.(*tx))
				})
			}()
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := s.Write(wctx, func(tx publicmask.Tx) error {
				return tx.PutToken(publicmask.Token{Hash: "h2", Role: publicmask.RoleAdmin, CreatedAt: time.Now()})
			}); err != nil {
				t.Fatalf("the write after a panic: %v", err)
			}
			if _, err := s.Token(ctx, "h1"); err == nil {
				t.Error("the panicked write's token was committed")
			}
			if _, err := s.Token(ctx, "h2"); err != nil {
				t.Errorf("the next write's token: %v", err)
			}
		})
	}
}

// A write that panics after stamping an outlet leaves no gap in the
// versions: the next write's change takes the version the panicked one
// would have had (followers read the feed by watermark; the log promises
// consecutive versions).
func TestPanicLeavesNoVersionGap(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	codes := seedOutlets(t, s, 1)
	before := s.version
	save := func(stock int, then func()) (int64, error) {
		var v int64
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			o, err := tx.LockOutlet(codes[0])
			if err != nil {
				return err
			}
			o.Stock = stock
			if err := tx.SaveOutlet(&o); err != nil {
				return err
			}
			v = o.Version
			then()
			return nil
		})
		return v, err
	}
	func() {
		defer func() { _ = recover() }()
		save(5, func() { panic("after SaveOutlet") })
	}()
	v, err := save(6, func() {})
	if err != nil {
		t.Fatal(err)
	}
	if v != before+1 {
		t.Errorf("the version after a panicked write: %d, want %d", v, before+1)
	}
}
