package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/publicmask/publicmask"
)

// driverRow runs q with args through the driver's own connection, as
// database/sql hands them to it, and returns the first row's values as
// the driver gives them.
func driverRow(t testing.TB, db *sql.DB, q string, args ...any) ([]driver.Value, error) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var out []driver.Value
	err = conn.Raw(func(dc any) error {
		st, err := dc.(driver.ConnPrepareContext).PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		defer st.Close()
		nv := make([]driver.NamedValue, len(args))
		for i, a := range args {
			v, err := driverValue(a)
			if err != nil {
				return err
			}
			nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
		}
		rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, nv)
		if err != nil {
			return err
		}
		defer rows.Close()
		out = make([]driver.Value, len(rows.Columns()))
		return rows.Next(out)
	})
	return out, err
}

// wconnRow is driverRow on c.
func wconnRow(c *wconn, q string, args ...any) ([]driver.Value, error) {
	st, err := c.prepare(q, false)
	if err != nil {
		return nil, err
	}
	defer c.finalize(st)
	var out []driver.Value
	err = c.query(st, args, make([]driver.Value, st.cols), func(v []driver.Value) error {
		out = append([]driver.Value(nil), v...)
		return errStopRows
	})
	if errors.Is(err, errStopRows) {
		err = nil
	}
	return out, err
}

// openPair opens a wconn and a database/sql pool of one connection on one
// new file, with the writer's settings.
func openPair(t testing.TB) (*wconn, *sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "w.db")
	c, err := openWConn(path, "", writerPragmas)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.close() })
	dsn := "file:" + path + "?_time_format=sqlite"
	for _, p := range writerPragmas {
		dsn += "&_pragma=" + p
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return c, db, path
}

// randValue is a value of a type the writer binds, with the edge cases.
func randValue(r *rand.Rand) any {
	switch r.IntN(12) {
	case 0:
		return nil
	case 1:
		return []int64{0, 1, -1, math.MaxInt64, math.MinInt64, 255, 256}[r.IntN(7)]
	case 2:
		return r.Int64() - math.MaxInt64/2
	case 3:
		return r.IntN(1000) - 500
	case 4:
		return []float64{0, math.Copysign(0, -1), 1.5, -2.25e300, math.Inf(1), math.SmallestNonzeroFloat64}[r.IntN(6)]
	case 5:
		return r.IntN(2) == 1
	case 6:
		return ""
	case 7, 8:
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.IntN(256)) // NULs and invalid UTF-8 too
		}
		return string(b)
	case 9:
		return strings.Repeat("가", r.IntN(30000)) // up to 90 KB: beyond the buffer
	case 10:
		if r.IntN(3) == 0 {
			return []byte(nil)
		}
		b := make([]byte, r.IntN(70000))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	default:
		return time.Date(2020, 3, 9, 12, r.IntN(60), r.IntN(60), r.IntN(1e9), time.FixedZone("", 9*3600))
	}
}

// TestWConnValuesAsDriver: any values the writer binds read back through
// the writer's connection as they read back through the driver — a
// random statement's parameters (texts beyond the buffer, NULs, empty and
// nil blobs, times) and the row of every expression TestScanValuesAsScan
// reads.
func TestWConnValuesAsDriver(t *testing.T) {
	c, db, _ := openPair(t)
	r := rand.New(rand.NewPCG(1, 2))
	grew := false
	for n := 0; n < 300; n++ {
		k := 1 + r.IntN(40)
		args := make([]any, k)
		for i := range args {
			args[i] = randValue(r)
		}
		q := "SELECT " + strings.TrimSuffix(strings.Repeat("?, ", k), ", ")
		want, werr := driverRow(t, db, q, args...)
		got, gerr := wconnRow(c, q, args...)
		if werr != nil || gerr != nil {
			t.Fatalf("%d: driver %v, wconn %v", n, werr, gerr)
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("%d: %d values: the driver read %.200v, the writer's connection %.200v", n, k, want, got)
		}
		grew = grew || c.bufN > wconnBuf
	}
	if !grew {
		t.Error("no statement's texts outgrew the buffer")
	}
	for _, e := range []string{`NULL`, `0`, `1`, `-7`, `9007199254740993`, `1.5`, `''`, `'text'`, `'가나'`,
		`x''`, `x'00ff10'`, `CAST('12' AS BLOB)`, `'a' || char(0) || 'b'`, `zeroblob(3)`} {
		want, werr := driverRow(t, db, `SELECT `+e)
		got, gerr := wconnRow(c, `SELECT `+e)
		if werr != nil || gerr != nil || !reflect.DeepEqual(want, got) {
			t.Errorf("SELECT %s: driver %#v (%v), wconn %#v (%v)", e, want, werr, got, gerr)
		}
	}
}

// FuzzWConnValues: go test ./sqlite -run '^$' -fuzz FuzzWConnValues.
func FuzzWConnValues(f *testing.F) {
	f.Add("", []byte{}, int64(0), 0.0, false)
	f.Add("a\x00b", []byte(nil), int64(math.MinInt64), math.Inf(-1), true)
	f.Add(strings.Repeat("x", 70000), []byte("y"), int64(1), 1.5, true)
	f.Fuzz(func(t *testing.T, s string, b []byte, i int64, fl float64, nilBlob bool) {
		c, db, _ := openPair(t)
		if nilBlob {
			b = nil
		}
		args := []any{s, b, i, fl, s, nil}
		q := `SELECT ?, ?, ?, ?, length(?), ?`
		want, werr := driverRow(t, db, q, args...)
		got, gerr := wconnRow(c, q, args...)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("driver %v, wconn %v", werr, gerr)
		}
		if werr == nil && !reflect.DeepEqual(want, got) {
			t.Fatalf("driver %#v, wconn %#v", want, got)
		}
	})
}

// TestWConnManyParameters: a statement of 6,000 parameters, texts of 120
// KB in all, writes what the driver reads back.
func TestWConnManyParameters(t *testing.T) {
	c, db, _ := openPair(t)
	if err := c.execOnce(`CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	const rows = 3000
	q := `INSERT INTO t (k, v) VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?), ", rows), ", ")
	st, err := c.stmt(q)
	if err != nil {
		t.Fatal(err)
	}
	args := make([]any, 0, 2*rows)
	for i := range rows {
		args = append(args, int64(i), fmt.Sprintf("%040d", i))
	}
	if n, err := c.exec(st, args); err != nil || n != rows {
		t.Fatalf("insert: %d rows, %v", n, err)
	}
	var n int
	var sum int64
	if err := db.QueryRow(`SELECT count(*), sum(CAST(v AS INTEGER) - k) FROM t WHERE length(v) = 40`).Scan(&n, &sum); err != nil || n != rows || sum != 0 {
		t.Fatalf("read back %d rows, sum of differences %d, %v", n, sum, err)
	}
	if _, err := c.exec(st, args[:len(args)-1]); err == nil {
		t.Error("one argument short: no error")
	}
}

// TestDriverErrorLayout: driverError makes the driver's own error type.
func TestDriverErrorLayout(t *testing.T) {
	if unsafe.Sizeof(msqlite.Error{}) != unsafe.Sizeof(driverErrorLayout{}) {
		t.Fatal("modernc's sqlite.Error changed its layout")
	}
	err := fmt.Errorf("wrapped: %w", driverError("constraint failed", 2067))
	var se *msqlite.Error
	if !errors.As(err, &se) || se.Error() != "constraint failed" || se.Code() != 2067 {
		t.Fatalf("got %#v", se)
	}
}

// TestWConnErrorsAsDriver: a failed statement gives the error the driver
// gives (message and extended code: a UNIQUE and a NOT NULL violation, a
// syntax error, a busy database), and the statement runs again after it.
func TestWConnErrorsAsDriver(t *testing.T) {
	c, db, path := openPair(t)
	if _, err := db.Exec(`CREATE TABLE u (k TEXT PRIMARY KEY, v INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO u VALUES ('a', 1)`); err != nil {
		t.Fatal(err)
	}
	same := func(name string, werr, gerr error, code int) {
		t.Helper()
		var ws, gs *msqlite.Error
		if !errors.As(werr, &ws) || !errors.As(gerr, &gs) {
			t.Fatalf("%s: driver %v, wconn %v: not both *sqlite.Error", name, werr, gerr)
		}
		if ws.Error() != gs.Error() || ws.Code() != gs.Code() || gs.Code() != code {
			t.Errorf("%s: driver %q (%d), wconn %q (%d), want code %d", name, ws, ws.Code(), gs, gs.Code(), code)
		}
	}
	ins := `INSERT INTO u (k, v) VALUES (?, ?)`
	st, err := c.stmt(ins)
	if err != nil {
		t.Fatal(err)
	}
	_, werr := db.Exec(ins, "a", 2)
	_, gerr := c.exec(st, []any{"a", 2})
	same("unique", werr, gerr, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
	_, werr = db.Exec(ins, "b", nil)
	_, gerr = c.exec(st, []any{"b", nil})
	same("not null", werr, gerr, sqlite3.SQLITE_CONSTRAINT_NOTNULL)
	if n, err := c.exec(st, []any{"b", 2}); err != nil || n != 1 {
		t.Fatalf("the statement after its failures: %d, %v", n, err)
	}
	_, werr = db.Exec(`SELEC 1`)
	_, gerr = c.prepare(`SELEC 1`, false)
	same("syntax", werr, gerr, sqlite3.SQLITE_ERROR)

	// busy: another connection holds the write lock.
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	hold, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hold.Exec(`INSERT INTO u VALUES ('h', 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA busy_timeout = 0`); err != nil {
		t.Fatal(err)
	}
	if err := c.execOnce(`PRAGMA busy_timeout = 0`); err != nil {
		t.Fatal(err)
	}
	_, werr = db.Exec(`BEGIN IMMEDIATE`)
	gerr = c.execOnce(`BEGIN IMMEDIATE`)
	same("busy", werr, gerr, sqlite3.SQLITE_BUSY)
	hold.Rollback()
	if err := c.execOnce(`BEGIN IMMEDIATE`); err != nil {
		t.Fatalf("begin once the lock is free: %v", err)
	}
	if err := c.execOnce(`ROLLBACK`); err != nil {
		t.Fatal(err)
	}
}

// TestWriterConnectionsAgree: the write transactions' connection has the
// settings of the writer's database/sql connection, no connection mutex
// (SQLITE_OPEN_NOMUTEX), and its WAL goes through walBufVFS.
func TestWriterConnectionsAgree(t *testing.T) {
	s := openTest(t)
	for _, p := range []string{"journal_mode", "synchronous", "wal_autocheckpoint", "temp_store",
		"busy_timeout", "foreign_keys", "page_size", "locking_mode", "recursive_triggers", "cell_size_check"} {
		var want any
		if err := s.writer.QueryRow(`PRAGMA ` + p).Scan(&want); err != nil {
			t.Fatal(err)
		}
		got, err := wconnRow(s.wc, `PRAGMA `+p)
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Errorf("PRAGMA %s: database/sql's writer %#v, wconn %#v (%v)", p, want, got, err)
		}
	}
	// The page caches differ on purpose: database/sql's writer only runs
	// migrations, the purge and the meta table.
	var small int64
	if err := s.writer.QueryRow(`PRAGMA cache_size`).Scan(&small); err != nil || small != -512 {
		t.Errorf("database/sql's writer's cache_size %d (%v), want -512", small, err)
	}
	if got, err := wconnRow(s.wc, `PRAGMA cache_size`); err != nil || got[0] != int64(-16384) {
		t.Errorf("wconn's cache_size %v (%v), want -16384 (16 MiB)", got, err)
	}
	var seq int
	var name, file string
	if err := s.writer.QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &file); err != nil {
		t.Fatal(err)
	}
	if got, err := wconnRow(s.wc, `PRAGMA database_list`); err != nil || got[2] != file {
		t.Errorf("database/sql's writer opened %q, wconn %v (%v)", file, got, err)
	}
	if m := sqlite3.Xsqlite3_db_mutex(s.wc.tls, s.wc.db); m != 0 {
		t.Error("the writer's connection has a connection mutex")
	}
	if err := putMeta(s, 1); err != nil {
		t.Fatal(err)
	}
	*(*uintptr)(cptr(s.wc.cell)) = 0
	if rc := sqlite3.Xsqlite3_file_control(s.wc.tls, s.wc.db, 0, sqlite3.SQLITE_FCNTL_JOURNAL_POINTER, s.wc.cell); rc != sqlite3.SQLITE_OK {
		t.Fatal(rc)
	}
	if _, ok := walBufs.Load(*(*uintptr)(cptr(s.wc.cell))); !ok {
		t.Error("the writer's WAL is not opened through walBufVFS")
	}
}

// liveStmts counts the statements open on c, and those not reset.
func liveStmts(c *wconn) (open, busy int) {
	for p := sqlite3.Xsqlite3_next_stmt(c.tls, c.db, 0); p != 0; p = sqlite3.Xsqlite3_next_stmt(c.tls, c.db, p) {
		open++
		if sqlite3.Xsqlite3_stmt_busy(c.tls, p) != 0 {
			busy++
		}
	}
	return open, busy
}

// TestWConnLeavesNoStatement: after writes that run every kind of
// statement — kept and one-off, a query stopped after its first row, a
// failed statement, a panic in a row — the connection holds only its
// cached statements, all reset, and closes (sqlite3_close, which fails
// while any statement is left).
func TestWConnLeavesNoStatement(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	seedOutlets(t, s, 450) // a bulk group and a one-off remainder
	tok := publicmask.Token{Hash: "h", Role: publicmask.RoleAdmin, CreatedAt: time.Now()}
	if err := s.Write(ctx, func(tx publicmask.Tx) error { return tx.PutToken(tok) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, func(tx publicmask.Tx) error { return tx.PutToken(tok) }); err == nil {
		t.Fatal("a second token of one hash: no error")
	}
	func() {
		defer func() { _ = recover() }()
		s.Write(ctx, func(ptx publicmask.Tx) error {
			return ptx.(*tx).queryRows(`SELECT code FROM outlets`, nil, func(scanner) error { panic("in a row") })
		})
	}()
	if err := s.Write(ctx, func(ptx publicmask.Tx) error {
		var code string
		return ptx.(*tx).rowStmt(`SELECT code FROM outlets ORDER BY code`).Scan(&code)
	}); err != nil {
		t.Fatal(err)
	}
	open, busy := liveStmts(s.wc)
	if open != len(s.wc.stmts) || busy != 0 {
		t.Errorf("%d statements open (%d not reset), %d cached", open, busy, len(s.wc.stmts))
	}
	s.writeMu.Lock()
	err := s.wc.close()
	s.writeMu.Unlock()
	if err != nil {
		t.Errorf("close: %v", err)
	}
	if err := s.Write(ctx, func(tx publicmask.Tx) error { return tx.PutToken(tok) }); err == nil {
		t.Error("a write after the connection closed: no error")
	}
}

// TestRollbackFlushesWAL: frames a rolled-back transaction left in the
// writer's WAL buffer are written out with the rollback, not later over
// the frames that database/sql's writer (the purge, the meta table)
// commits at the same offsets next. SQLite flushes the buffer on most of
// its own calls (a read, a size), so frames held at the rollback are rare;
// here they are put there: a zeroed frame at the end of the last commit,
// where the next commit's frames go. Written later, it would cut the WAL
// short of that commit (recovery stops at it).
func TestRollbackFlushesWAL(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if err := s.SetMeta(ctx, "before", "1"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(s.Path() + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	end := st.Size() // the last commit's end: nothing has been rolled back yet
	abort := errors.New("abort")
	err = s.Write(ctx, func(ptx publicmask.Tx) error {
		if _, err := ptx.(*tx).execText(`INSERT INTO meta (key, value) VALUES ('rolled back', 'x')`); err != nil {
			return err
		}
		b := writerWALBuf(t, s.wc)
		b.buf = append(b.buf[:0], make([]byte, 24+chosenPageSize)...)
		b.off = end
		return abort
	})
	if !errors.Is(err, abort) {
		t.Fatal(err)
	}
	if n := len(writerWALBuf(t, s.wc).buf); n != 0 {
		t.Fatalf("%d bytes of the rolled-back transaction held in the WAL buffer", n)
	}
	// The other writer commits, then this one; all of it reads back after
	// a reopen, and the file is sound.
	if err := s.SetMeta(ctx, "after", "2"); err != nil {
		t.Fatal(err)
	}
	if err := putMeta(s, 2); err != nil {
		t.Fatal(err)
	}
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var check string
	if err := s2.reader.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
	for k, want := range map[string]string{"before": "1", "after": "2"} {
		if v, err := s2.Meta(ctx, k); err != nil || v != want {
			t.Errorf("meta %s: %q, %v", k, v, err)
		}
	}
}

// writerWALBuf is the WAL buffer of c's WAL file.
func writerWALBuf(t *testing.T, c *wconn) *walBuf {
	t.Helper()
	*(*uintptr)(cptr(c.cell)) = 0
	if rc := sqlite3.Xsqlite3_file_control(c.tls, c.db, 0, sqlite3.SQLITE_FCNTL_JOURNAL_POINTER, c.cell); rc != sqlite3.SQLITE_OK {
		t.Fatal(rc)
	}
	b, ok := walBufs.Load(*(*uintptr)(cptr(c.cell)))
	if !ok {
		t.Fatal("no WAL buffer")
	}
	return b.(*walBuf)
}

// TestWConnRefusesBindWhileStepping: a statement run from a query's row
// callback would bind its texts over the query's, which SQLite reads again
// at every step; it is refused, and the query's rows are what they were.
func TestWConnRefusesBindWhileStepping(t *testing.T) {
	s := openTest(t)
	c := s.wc
	if err := c.execOnce(`CREATE TABLE t (k TEXT)`); err != nil {
		t.Fatal(err)
	}
	ins, err := c.prepare(`INSERT INTO t VALUES (?)`, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.finalize(ins)
	for _, k := range []string{"aa", "ab", "b"} {
		if _, err := c.exec(ins, []any{k}); err != nil {
			t.Fatal(err)
		}
	}
	sel, err := c.prepare(`SELECT k FROM t WHERE k >= ? ORDER BY k`, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.finalize(sel)
	var got []string
	var inner error
	err = c.query(sel, []any{"ab"}, make([]driver.Value, 1), func(v []driver.Value) error {
		got = append(got, v[0].(string))
		if inner == nil {
			_, inner = c.exec(ins, []any{"zz"}) // would overwrite "ab" in the buffer
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(inner, errBindWhileStepping) {
		t.Errorf("a statement inside a row: %v, want errBindWhileStepping", inner)
	}
	if want := []string{"ab", "b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	if _, err := c.exec(ins, []any{"c"}); err != nil {
		t.Errorf("after the query: %v", err)
	}
}

// TestWConnStatementTail: blanks and semicolons may follow a statement,
// as the driver allows; a second statement may not.
func TestWConnStatementTail(t *testing.T) {
	s := openTest(t)
	for q, ok := range map[string]bool{"SELECT 1": true, "SELECT 1;": true, "SELECT 1;\n\t ; ": true, "SELECT 1; SELECT 2": false} {
		st, err := s.wc.prepare(q, false)
		if (err == nil) != ok {
			t.Errorf("prepare(%q): %v, want ok %v", q, err, ok)
		}
		if err == nil {
			s.wc.finalize(st)
		}
	}
}

// TestStoreAtURIPath: every connection names a path with '#', '?' and '%'
// as the file it is, so the WAL durable.go syncs is the one written.
func TestStoreAtURIPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a#1?b%41")
	path := filepath.Join(dir, "pm.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := putMeta(s, 1); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the store's WAL at %s: %v", path+"-wal", err)
	}
	for _, c := range []struct {
		name string
		db   *sql.DB
	}{{"writer", s.writer}, {"reader", s.reader}, {"checkpointer", s.ckpt.db}} {
		var seq int
		var name, file string
		if err := c.db.QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &file); err != nil || file != path {
			t.Errorf("%s opened %q (%v), want %q", c.name, file, err, path)
		}
	}
	if got, err := wconnRow(s.wc, `PRAGMA database_list`); err != nil || got[2] != path {
		t.Errorf("wconn opened %v (%v), want %q", got, err, path)
	}
	ents, err := os.ReadDir(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Errorf("files beside the store's directory: %v", ents)
	}
}

// TestPoolStatsCountsTheWriteConnection: wc is a connection of the store's,
// in use while a write runs.
func TestPoolStatsCountsTheWriteConnection(t *testing.T) {
	s := openTest(t)
	// Open starts the filters' builds on reader connections: a build that
	// returned its connection between the two reads below moved Open and
	// Idle under the test (3 runs in 20 failed so).
	s.builds.Wait()
	idle := s.PoolStats()
	var during publicmask.PoolStats
	if err := s.Write(context.Background(), func(tx publicmask.Tx) error {
		during = s.PoolStats()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	w, r := s.writer.Stats(), s.reader.Stats()
	if idle.Max != w.MaxOpenConnections+r.MaxOpenConnections+1 || during.InUse != idle.InUse+1 || during.Idle != idle.Idle-1 {
		t.Errorf("at rest %+v, during a write %+v", idle, during)
	}
}
