package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/storetest"

	"github.com/publicmask/publicmask/internal/testenv"
)

// testDSN is the database the tests use, from PUBLICMASK_TEST_POSTGRES.
// Without it the tests skip, except in CI, where a missing PostgreSQL must
// fail the run rather than pass it silently.
func testDSN(t testing.TB) string { return testenv.PostgresDSN(t) }

// newSchema returns a fresh schema name, dropped when the test ends.
func newSchema(t testing.TB, dsn string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	schema := "pmtest_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+quoteIdent(schema)+` CASCADE`); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// openTest opens a store on a fresh schema of the test database.
func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	dsn := testDSN(t)
	opts.Schema = newSchema(t, dsn)
	s, err := Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openSame opens another store (another "node") on s's schema.
func openSame(t testing.TB, s *Store) *Store {
	t.Helper()
	s2, err := Open(context.Background(), testDSN(t), s.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	return s2
}

func TestConformance(t *testing.T) {
	testDSN(t)
	storetest.Run(t, func(t *testing.T) publicmask.Store { return openTest(t, Options{}) })
}

func TestBulkConformance(t *testing.T) {
	testDSN(t)
	storetest.RunBulk(t, func(t *testing.T) publicmask.Store { return openTest(t, Options{}) })
}

func testOutlet(code string) publicmask.Outlet {
	return publicmask.Outlet{Code: code, Name: "약국 " + code, Addr: "서울특별시 강북구 솔매로 38 (미아동)", Type: publicmask.TypePharmacy, Lat: 37.6, Lng: 127.0, UpdatedAt: time.Now()}
}

func seedOutlets(t testing.TB, s publicmask.Store, codes ...string) {
	t.Helper()
	err := s.Write(context.Background(), func(tx publicmask.Tx) error {
		for _, c := range codes {
			o := testOutlet(c)
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

// bump adds delta to the stock of each outlet, locking them in the given order.
func bump(tx publicmask.Tx, delta int, codes ...string) error {
	for _, c := range codes {
		o, err := tx.LockOutlet(c)
		if err != nil {
			return err
		}
		o.Stock += delta
		if err := tx.SaveOutlet(&o); err != nil {
			return err
		}
	}
	return nil
}

// TestMigrationsConcurrentOpen: several nodes starting at once on an empty
// database migrate it exactly once and all start.
func TestMigrationsConcurrentOpen(t *testing.T) {
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	stores := make([]*Store, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(context.Background(), dsn, Options{Schema: schema, MaxConns: 2})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var applied int
	if err := stores[0].pool.QueryRow(context.Background(), `SELECT count(*) FROM goose_db_version WHERE version_id = 1 AND is_applied`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 1 {
		t.Fatalf("migration 1 recorded %d times", applied)
	}
	// Every node works on the one schema.
	seedOutlets(t, stores[n-1], "00000001")
	if _, err := stores[0].Outlet(context.Background(), "00000001"); err != nil {
		t.Fatal(err)
	}
}

// TestRetryDeadlock forces a lock cycle between two transactions (outlets
// locked in opposite orders); PostgreSQL aborts one with 40P01 and Write
// runs it again, so both apply exactly once.
func TestRetryDeadlock(t *testing.T) {
	s := openTest(t, Options{})
	seedOutlets(t, s, "A", "B")
	ctx := context.Background()
	var ready sync.WaitGroup
	ready.Add(2)
	run := func(first, second string) error {
		attempt := 0
		return s.Write(ctx, func(tx publicmask.Tx) error {
			attempt++
			if err := bump(tx, 1, first); err != nil {
				return err
			}
			if attempt == 1 {
				ready.Done()
				ready.Wait() // both hold their first lock: the cycle is certain
			}
			return bump(tx, 1, second)
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- run("A", "B") }()
	go func() { errs <- run("B", "A") }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if s.Retries() < 1 {
		t.Fatalf("no retry recorded")
	}
	for _, c := range []string{"A", "B"} {
		o, _ := s.Outlet(ctx, c)
		if o.Stock != 2 {
			t.Fatalf("outlet %s stock %d, want 2 (each transaction exactly once)", c, o.Stock)
		}
	}
}

// TestRetryPersonWeekRace: two transactions (two nodes) both read a
// person's week as absent and both insert it. The second insert waits for
// the first commit, fails with a unique violation, and its transaction runs
// again, now seeing the first purchase: nobody exceeds the quota by racing.
// The same holds when the rows are read by a batch's Prefetch and written
// by the multi-row insert at commit.
func TestRetryPersonWeekRace(t *testing.T) {
	const week = "2020-03-09"
	reads := map[string]func(tx publicmask.Tx) (map[string]publicmask.PersonWeek, error){
		"PersonWeeks": func(tx publicmask.Tx) (map[string]publicmask.PersonWeek, error) {
			return tx.PersonWeeks(week, []string{"p"})
		},
		"Prefetch": func(tx publicmask.Tx) (map[string]publicmask.PersonWeek, error) {
			if err := tx.(publicmask.Prefetcher).Prefetch(publicmask.BatchReads{PersonWeeks: map[string][]string{week: {"p"}}}); err != nil {
				return nil, err
			}
			return tx.PersonWeeks(week, []string{"p"})
		},
	}
	for name, read := range reads {
		t.Run(name, func(t *testing.T) {
			s1 := openTest(t, Options{})
			s2 := openSame(t, s1)
			ctx := context.Background()
			var ready sync.WaitGroup
			ready.Add(2)
			sawExisting := make(chan int, 2)
			buy := func(s *Store) error {
				attempt := 0
				return s.Write(ctx, func(tx publicmask.Tx) error {
					attempt++
					m, err := read(tx)
					if err != nil {
						return err
					}
					if attempt == 1 {
						ready.Done()
						ready.Wait()
					}
					pw, ok := m["p"]
					if ok {
						sawExisting <- pw.Quantity
					}
					pw.Person, pw.Week = "p", week
					pw.Quantity += 2
					pw.Purchases++
					return tx.PutPersonWeek(pw)
				})
			}
			errs := make(chan error, 2)
			go func() { errs <- buy(s1) }()
			go func() { errs <- buy(s2) }()
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			m, err := s1.PersonWeeks(ctx, week, []string{"p"})
			if err != nil {
				t.Fatal(err)
			}
			if got := m["p"]; got.Quantity != 4 || got.Purchases != 2 {
				t.Fatalf("person week = %+v, want both purchases counted", got)
			}
			if s1.Retries()+s2.Retries() < 1 {
				t.Fatal("no retry recorded")
			}
			select {
			case q := <-sawExisting:
				if q != 2 {
					t.Fatalf("retried transaction saw quantity %d, want 2", q)
				}
			default:
				t.Fatal("the retried transaction never saw the first purchase")
			}
		})
	}
}

// TestPrefetchFollowsOwnWrites: after Prefetch, reads are answered from
// memory and see the transaction's own buffered writes (a second sale of
// the same person in one batch must count the first); what commits is the
// last state, written once per row.
func TestPrefetchFollowsOwnWrites(t *testing.T) {
	s := openTest(t, Options{})
	seedOutlets(t, s, "A", "B")
	ctx := context.Background()
	const week = "2020-03-09"
	at := time.Date(2020, 3, 11, 1, 0, 0, 0, time.UTC)
	err := s.Write(ctx, func(tx publicmask.Tx) error {
		pf := tx.(publicmask.Prefetcher)
		keys := []publicmask.IdemKey{{Outlet: "B", TxnID: "t1"}, {Outlet: "A", TxnID: "t1"}}
		if err := pf.Prefetch(publicmask.BatchReads{Outlets: []string{"B", "A"}, Idem: keys, PersonWeeks: map[string][]string{week: {"q", "p"}}}); err != nil {
			return err
		}
		for i, who := range []string{"p", "p", "q"} {
			m, err := tx.PersonWeeks(week, []string{who})
			if err != nil {
				return err
			}
			pw := m[who]
			if want := map[int]int{0: 0, 1: 2, 2: 0}[i]; pw.Quantity != want {
				return fmt.Errorf("read %d of %s: quantity %d, want %d", i, who, pw.Quantity, want)
			}
			pw.Person, pw.Week = who, week
			pw.Add(2, false)
			if err := tx.PutPersonWeek(pw); err != nil {
				return err
			}
			sale := &publicmask.Sale{ID: fmt.Sprintf("s%d", i), Outlet: "A", TxnID: fmt.Sprintf("t%d", i+1), SoldAt: at, RecordedAt: at, Week: week, Quantity: 2,
				Items: []publicmask.SaleItem{{Role: "buyer", Person: who, Category: "adult", BirthYear: 1983, Quantity: 2}}}
			if err := tx.InsertSale(sale); err != nil {
				return err
			}
		}
		if _, ok, err := tx.Idempotency("A", "t1"); err != nil || ok {
			return fmt.Errorf("idempotency before put: %v, %v", ok, err)
		}
		if err := tx.PutIdempotency(publicmask.IdemRecord{Outlet: "A", TxnID: "t1", BodyHash: "h", Response: []byte(`{}`), CreatedAt: at}); err != nil {
			return err
		}
		if r, ok, err := tx.Idempotency("A", "t1"); err != nil || !ok || r.BodyHash != "h" {
			return fmt.Errorf("idempotency after put: %+v, %v, %v", r, ok, err)
		}
		o, err := tx.LockOutlet("B")
		if err != nil {
			return err
		}
		o.Stock--
		return tx.SaveOutlet(&o)
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.PersonWeeks(ctx, week, []string{"p", "q"})
	if err != nil {
		t.Fatal(err)
	}
	if m["p"].Quantity != 4 || m["p"].Purchases != 2 || m["q"].Quantity != 2 {
		t.Fatalf("person weeks %+v", m)
	}
	var sales, items, idem int
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM sales), (SELECT count(*) FROM sale_items),
		(SELECT count(*) FROM idempotency WHERE outlet = 'A' AND txn_id = 't1')`).Scan(&sales, &items, &idem); err != nil {
		t.Fatal(err)
	}
	if sales != 3 || items != 3 || idem != 1 {
		t.Fatalf("%d sales, %d items, %d idempotency records; want 3, 3, 1", sales, items, idem)
	}
}

// TestWriteRunsOnceWithoutConflict: fn runs once, and a business error
// rolls back without retry.
func TestWriteErrorNoRetry(t *testing.T) {
	s := openTest(t, Options{})
	calls := 0
	boom := errors.New("boom")
	err := s.Write(context.Background(), func(tx publicmask.Tx) error {
		calls++
		return boom
	})
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("err=%v calls=%d", err, calls)
	}
	// A duplicate idempotency record is an error of the statement (not a
	// conflict): it fails the Write without retrying it.
	rec := publicmask.IdemRecord{Outlet: "x", TxnID: "t", BodyHash: "h", Response: []byte("{}"), CreatedAt: time.Now()}
	for i := range 2 {
		calls = 0
		err := s.Write(context.Background(), func(tx publicmask.Tx) error {
			calls++
			return tx.PutIdempotency(rec)
		})
		if (err != nil) != (i == 1) || calls != 1 {
			t.Fatalf("put %d: err=%v calls=%d", i, err, calls)
		}
		if err != nil && publicmask.ErrorCode(err) != publicmask.EInternal {
			t.Fatalf("duplicate record error code %q", publicmask.ErrorCode(err))
		}
	}
}

// Tokens reads many tokens in one statement: those that exist, revoked
// ones with their revocation, none for unknown hashes.
func TestTokens(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	at := time.Date(2020, 3, 11, 0, 0, 0, 0, time.UTC)
	putTokens(t, s, at, "aa", "bb", "cc")
	if err := s.Write(ctx, func(tx publicmask.Tx) error { return tx.RevokeToken("bb", at.Add(time.Hour)) }); err != nil {
		t.Fatal(err)
	}
	got, err := s.Tokens(ctx, []string{"aa", "bb", "zz"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["aa"].Outlet != "1000000a" || !got["aa"].RevokedAt.IsZero() || !got["aa"].CreatedAt.Equal(at) ||
		!got["bb"].RevokedAt.Equal(at.Add(time.Hour)) {
		t.Fatalf("Tokens: %+v", got)
	}
}

// The token look-up runs one generic plan per session, not a plan per call,
// and leaves the session's own planning settings as they were.
func TestTokensPlannedOnce(t *testing.T) {
	s := openTest(t, Options{MaxConns: 1}) // one session: its prepared statements are the store's
	ctx := context.Background()
	at := time.Date(2020, 3, 11, 0, 0, 0, 0, time.UTC)
	putTokens(t, s, at, "aa", "bb", "cc")
	const calls = 8
	for i := range calls {
		got, err := s.Tokens(ctx, []string{"aa", "cc", fmt.Sprintf("z%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got["cc"].Outlet != "1000000c" {
			t.Fatalf("Tokens: %+v", got)
		}
	}
	conn, err := s.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	genericPlansOnly(t, conn, sqlTokens, calls)
	storePlanning(t, conn, "the look-ups")
}

// putTokens stores outlet tokens with the given hashes, each for outlet
// "1000000" + its first letter.
func putTokens(t testing.TB, s *Store, at time.Time, hashes ...string) {
	t.Helper()
	err := s.Write(context.Background(), func(tx publicmask.Tx) error {
		for _, h := range hashes {
			if err := tx.PutToken(publicmask.Token{Hash: h, Role: publicmask.RoleOutlet, Outlet: "1000000" + h[:1], CreatedAt: at}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// genericPlansOnly fails unless the session ran the prepared statement sql
// n times, each on its generic plan.
func genericPlansOnly(t *testing.T, conn *pgxpool.Conn, sql string, n int64) {
	t.Helper()
	var generic, custom int64
	if err := conn.QueryRow(context.Background(), `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1`, sql).Scan(&generic, &custom); err != nil {
		t.Fatalf("%.30s…: %v", sql, err)
	}
	if generic != n || custom != 0 {
		t.Errorf("%.30s…: %d generic and %d custom plans over %d runs, want only generic ones", sql, generic, custom, n)
	}
}

// storePlanning fails unless the session's planner settings are still the
// store's own (Open) after what ran on it.
func storePlanning(t *testing.T, conn *pgxpool.Conn, after string) {
	t.Helper()
	for name, want := range map[string]string{"plan_cache_mode": "force_custom_plan", "enable_seqscan": "on"} {
		var got string
		if err := conn.QueryRow(context.Background(), `SELECT current_setting($1)`, name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("after %s the session has %s = %q, want %q", after, name, got, want)
		}
	}
}
