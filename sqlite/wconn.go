package sqlite

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"modernc.org/libc"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// wconn is the write transactions' connection, opened and driven over
// modernc's translated SQLite (modernc.org/sqlite/lib) instead of through
// its database/sql driver. In the opening deliveries and the import the
// driver's binding (conn.bind: every text copied into a fresh C string,
// freed after the step) was 8–10% of the server's samples and the
// connection's own mutexes (the driver opens every connection
// SQLITE_OPEN_FULLMUTEX) 5–7% (BENCHMARKS.md, 18th loading pass). Here:
//
//   - the connection is opened SQLITE_OPEN_NOMUTEX: only the writer uses
//     it, under Store.writeMu, one goroutine at a time; SQLite's core
//     mutexes (the page cache, the VFS, shared memory) stay, so the
//     readers' and the checkpointer's connections are as before;
//   - a statement's texts and blobs are copied into one C buffer kept for
//     the connection's life and bound SQLITE_STATIC: no allocation per
//     parameter. They stay bound after the statement is reset (as the
//     driver leaves its integers bound: unbinding costs a call a
//     parameter and may expire plans that depend on a 0/1 value), pointing
//     into the buffer the next statement overwrites. SQLite reads a bound
//     value only while the statement runs, and every run binds every
//     parameter first (bind refuses a count that differs), so a stale
//     pointer is never read; sqlite3_bind_* of a static value frees nothing;
//   - statements are prepared once (SQLITE_PREPARE_PERSISTENT) and cached
//     by their text;
//   - errors are the driver's: *sqlite.Error with the message and the
//     extended code it would give (errorOf), so every caller that
//     classifies errors (app's write health, isNoRows, tests) sees the same.
type wconn struct {
	tls   *libc.TLS
	db    uintptr
	stmts map[string]*wstmt
	buf   uintptr // the bound texts and blobs of the statement running
	bufN  int     // its size
	cell  uintptr // two pointers: prepare's out-parameters, file control's
	// stepping: a query's rows are being read. Its texts are bound
	// SQLITE_STATIC from buf and read again at every step, so no statement
	// may bind (and overwrite or free them) until it ends: bind refuses.
	stepping bool
}

// wstmt is a prepared statement and its parameter and column counts.
type wstmt struct {
	p      uintptr
	params int
	cols   int
}

// wconnBuf is the text buffer's first size; it grows to the largest
// statement's texts (a bulk group of 400 outlets: ~60 KB).
const wconnBuf = 64 << 10

// openWConn opens path through vfs ("" for SQLite's default) and runs
// pragmas ("name(value)", as the writer's DSN gives them) in order. The
// name is the URI the other connections open (fileURI).
func openWConn(path, vfs string, pragmas []string) (c *wconn, err error) {
	c = &wconn{tls: libc.NewTLS(), stmts: make(map[string]*wstmt)}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	if c.cell, err = c.malloc(2 * int(unsafe.Sizeof(uintptr(0)))); err != nil {
		return c, err
	}
	if c.buf, err = c.malloc(wconnBuf); err != nil {
		return c, err
	}
	c.bufN = wconnBuf
	zName, err := libc.CString(fileURI(path))
	if err != nil {
		return c, err
	}
	defer libc.Xfree(c.tls, zName)
	var zVfs uintptr
	if vfs != "" {
		if zVfs, err = libc.CString(vfs); err != nil {
			return c, err
		}
		defer libc.Xfree(c.tls, zVfs)
	}
	rc := sqlite3.Xsqlite3_open_v2(c.tls, zName, c.cell,
		sqlite3.SQLITE_OPEN_READWRITE|sqlite3.SQLITE_OPEN_CREATE|sqlite3.SQLITE_OPEN_NOMUTEX|sqlite3.SQLITE_OPEN_URI, zVfs)
	c.db = *(*uintptr)(cptr(c.cell))
	if rc != sqlite3.SQLITE_OK {
		return c, c.errorOf(rc)
	}
	// As the driver: extended codes (SQLITE_CONSTRAINT_UNIQUE, not
	// SQLITE_CONSTRAINT) in every error.
	if rc := sqlite3.Xsqlite3_extended_result_codes(c.tls, c.db, 1); rc != sqlite3.SQLITE_OK {
		return c, c.errorOf(rc)
	}
	for _, p := range pragmas {
		if err := c.execOnce("PRAGMA " + p); err != nil {
			return c, fmt.Errorf("PRAGMA %s: %w", p, err)
		}
	}
	return c, nil
}

func (c *wconn) malloc(n int) (uintptr, error) {
	p := libc.Xmalloc(c.tls, uint64(n))
	if p == 0 {
		return 0, c.errorOf(sqlite3.SQLITE_NOMEM)
	}
	return p, nil
}

// close finalizes every statement and closes the connection; nothing of it
// is left (sqlite3_close fails while a statement is left: it is not the
// _v2 that would defer the close).
func (c *wconn) close() error {
	if c == nil || c.tls == nil {
		return nil
	}
	for _, st := range c.stmts {
		sqlite3.Xsqlite3_finalize(c.tls, st.p)
	}
	c.stmts = nil
	var err error
	if c.db != 0 {
		if rc := sqlite3.Xsqlite3_close(c.tls, c.db); rc != sqlite3.SQLITE_OK {
			err = c.errorOf(rc)
		}
		c.db = 0
	}
	if c.buf != 0 {
		libc.Xfree(c.tls, c.buf)
		c.buf = 0
	}
	if c.cell != 0 {
		libc.Xfree(c.tls, c.cell)
		c.cell = 0
	}
	c.tls.Close()
	c.tls = nil
	return err
}

// stmt is q prepared, from the cache or prepared now and kept.
func (c *wconn) stmt(q string) (*wstmt, error) {
	if st, ok := c.stmts[q]; ok {
		return st, nil
	}
	st, err := c.prepare(q, true)
	if err != nil {
		return nil, err
	}
	c.stmts[q] = st
	return st, nil
}

// prepare prepares q (one statement); persistent for a statement kept.
func (c *wconn) prepare(q string, persistent bool) (*wstmt, error) {
	if c.db == 0 {
		return nil, errWConnClosed
	}
	z, err := libc.CString(q)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(c.tls, z)
	var flags uint32
	if persistent {
		flags = sqlite3.SQLITE_PREPARE_PERSISTENT
	}
	pp := c.cell
	ptail := c.cell + unsafe.Sizeof(uintptr(0))
	if rc := sqlite3.Xsqlite3_prepare_v3(c.tls, c.db, z, int32(len(q)+1), flags, pp, ptail); rc != sqlite3.SQLITE_OK {
		return nil, c.errorOf(rc)
	}
	p := *(*uintptr)(cptr(pp))
	if p == 0 {
		return nil, fmt.Errorf("sqlite: empty statement %.40q", q)
	}
	// What follows the statement may be blanks and semicolons, as the
	// driver allows (not comments: no statement here has them).
	if tail := *(*uintptr)(cptr(ptail)); strings.Trim(q[int(tail-z):], " \t\r\n;") != "" {
		sqlite3.Xsqlite3_finalize(c.tls, p)
		return nil, fmt.Errorf("sqlite: more than one statement in %.40q", q)
	}
	return &wstmt{p: p, params: int(sqlite3.Xsqlite3_bind_parameter_count(c.tls, p)), cols: int(sqlite3.Xsqlite3_column_count(c.tls, p))}, nil
}

// finalize finalizes a statement not kept.
func (c *wconn) finalize(st *wstmt) {
	sqlite3.Xsqlite3_finalize(c.tls, st.p)
}

var errWConnClosed = errors.New("sqlite: the writer's connection is closed")

// sqliteTimeFormat is how the driver writes a time.Time under the
// writer's _time_format=sqlite (its parseTimeFormats[0]).
const sqliteTimeFormat = "2006-01-02 15:04:05.999999999-07:00"

// bind binds args to st's parameters 1…n, as the driver binds the values
// database/sql's default conversion makes of them (driverValue). One pass
// while the texts fit the buffer; should they not, the buffer grows to
// what they need and the binding starts again (what was bound points into
// the old one).
func (c *wconn) bind(st *wstmt, args []any) error {
	if c.stepping {
		return errBindWhileStepping
	}
	if len(args) != st.params {
		return fmt.Errorf("sqlite: %d arguments for %d parameters", len(args), st.params)
	}
	for try := 0; ; try++ {
		off := 0
		var err error
		for i, a := range args {
			if off, err = c.bindOne(st.p, int32(i+1), a, off); err != nil {
				break
			}
		}
		if err != errBufFull || try > 0 {
			return err
		}
		if err := c.grow(textBytes(args)); err != nil {
			return err
		}
	}
}

// errBindWhileStepping: a statement was run from a query's row callback.
var errBindWhileStepping = errors.New("sqlite: a statement run while a query's rows are read (its bound texts share the buffer)")

// errBufFull: the texts do not fit the buffer (bind grows it).
var errBufFull = errors.New("sqlite: bind buffer full")

// grow makes the buffer at least need bytes.
func (c *wconn) grow(need int) error {
	if need <= c.bufN {
		return nil
	}
	n := max(need, 2*c.bufN)
	p, err := c.malloc(n)
	if err != nil {
		return err
	}
	libc.Xfree(c.tls, c.buf) // no statement reads its stale pointers (see wconn)
	c.buf, c.bufN = p, n
	return nil
}

// textBytes is the bytes args' texts and blobs take in the buffer.
func textBytes(args []any) int {
	need := 0
	for _, a := range args {
		if _, ok := a.(string); !ok {
			if _, ok := a.([]byte); !ok {
				a, _ = driverValue(a)
			}
		}
		switch v := a.(type) {
		case string:
			need += len(v)
		case []byte:
			need += len(v)
		case time.Time:
			need += len(v.Format(sqliteTimeFormat))
		}
	}
	return need
}

// bindOne binds a at parameter i, its bytes (if any) at c.buf+off, and
// returns the offset after them.
func (c *wconn) bindOne(p uintptr, i int32, a any, off int) (int, error) {
	var rc int32
	switch v := a.(type) {
	case int64:
		rc = sqlite3.Xsqlite3_bind_int64(c.tls, p, i, v)
	case string:
		if off+len(v) > c.bufN {
			return off, errBufFull
		}
		// Never a null pointer, even for "": that would bind NULL.
		z := c.buf + uintptr(off)
		copy(unsafe.Slice((*byte)(cptr(z)), len(v)), v)
		rc = sqlite3.Xsqlite3_bind_text(c.tls, p, i, z, int32(len(v)), 0) // SQLITE_STATIC
		off += len(v)
	case nil:
		rc = sqlite3.Xsqlite3_bind_null(c.tls, p, i)
	case int:
		rc = sqlite3.Xsqlite3_bind_int64(c.tls, p, i, int64(v))
	case float64:
		rc = sqlite3.Xsqlite3_bind_double(c.tls, p, i, v)
	case bool:
		var b int32
		if v {
			b = 1
		}
		rc = sqlite3.Xsqlite3_bind_int(c.tls, p, i, b)
	case []byte:
		if v == nil { // as the driver: a nil slice is NULL, an empty one an empty blob
			rc = sqlite3.Xsqlite3_bind_null(c.tls, p, i)
			break
		}
		if off+len(v) > c.bufN {
			return off, errBufFull
		}
		z := c.buf + uintptr(off)
		copy(unsafe.Slice((*byte)(cptr(z)), len(v)), v)
		rc = sqlite3.Xsqlite3_bind_blob(c.tls, p, i, z, int32(len(v)), 0)
		off += len(v)
	case time.Time:
		return c.bindOne(p, i, v.Format(sqliteTimeFormat), off)
	default:
		dv, err := driverValue(a)
		if err != nil {
			return off, err
		}
		return c.bindOne(p, i, any(dv), off)
	}
	if rc != sqlite3.SQLITE_OK {
		return off, c.errorOf(rc)
	}
	return off, nil
}

// exec runs st with args to its end (a statement's RETURNING rows are
// stepped through, as the driver's Exec does), resets it, and returns the
// rows it changed.
func (c *wconn) exec(st *wstmt, args []any) (int64, error) {
	defer sqlite3.Xsqlite3_reset(c.tls, st.p)
	if err := c.bind(st, args); err != nil {
		return 0, err
	}
	for {
		switch rc := sqlite3.Xsqlite3_step(c.tls, st.p); rc {
		case sqlite3.SQLITE_ROW:
			continue
		case sqlite3.SQLITE_DONE:
			return sqlite3.Xsqlite3_changes64(c.tls, c.db), nil
		default:
			return 0, c.errorOf(rc)
		}
	}
}

// execOnce prepares, runs and finalizes q (no arguments).
func (c *wconn) execOnce(q string) error {
	st, err := c.prepare(q, false)
	if err != nil {
		return err
	}
	defer c.finalize(st)
	_, err = c.exec(st, nil)
	return err
}

// lastInsertID is the rowid of the connection's last insert.
func (c *wconn) lastInsertID() int64 {
	return sqlite3.Xsqlite3_last_insert_rowid(c.tls, c.db)
}

// query runs st with args and calls row with each row's values as the
// driver gives them (rows.Next: an integer as int64, a real as float64, a
// text as a string, a blob as a []byte of its own, a nil []byte if empty,
// nil for NULL), in dest, reused; it stops at row's first error. st is reset
// whatever happens (a panic in row too).
func (c *wconn) query(st *wstmt, args []any, dest []driver.Value, row func([]driver.Value) error) error {
	defer sqlite3.Xsqlite3_reset(c.tls, st.p)
	if err := c.bind(st, args); err != nil {
		return err
	}
	if len(dest) != st.cols {
		return fmt.Errorf("sqlite: %d destinations for %d columns", len(dest), st.cols)
	}
	c.stepping = true
	defer func() { c.stepping = false }()
	for {
		switch rc := sqlite3.Xsqlite3_step(c.tls, st.p); rc {
		case sqlite3.SQLITE_ROW:
			c.columns(st.p, dest)
			if err := row(dest); err != nil {
				return err
			}
		case sqlite3.SQLITE_DONE:
			return nil
		default:
			return c.errorOf(rc)
		}
	}
}

// columns reads the current row's values into dest.
func (c *wconn) columns(p uintptr, dest []driver.Value) {
	for i := range dest {
		col := int32(i)
		switch sqlite3.Xsqlite3_column_type(c.tls, p, col) {
		case sqlite3.SQLITE_INTEGER:
			dest[i] = sqlite3.Xsqlite3_column_int64(c.tls, p, col)
		case sqlite3.SQLITE_FLOAT:
			dest[i] = sqlite3.Xsqlite3_column_double(c.tls, p, col)
		case sqlite3.SQLITE_TEXT:
			z := sqlite3.Xsqlite3_column_text(c.tls, p, col)
			n := sqlite3.Xsqlite3_column_bytes(c.tls, p, col)
			if z == 0 || n == 0 {
				dest[i] = ""
				continue
			}
			dest[i] = string(unsafe.Slice((*byte)(cptr(z)), n))
		case sqlite3.SQLITE_BLOB:
			z := sqlite3.Xsqlite3_column_blob(c.tls, p, col)
			n := sqlite3.Xsqlite3_column_bytes(c.tls, p, col)
			if z == 0 || n == 0 {
				dest[i] = []byte(nil) // typed, as the driver's
				continue
			}
			dest[i] = append([]byte(nil), unsafe.Slice((*byte)(cptr(z)), n)...)
		default:
			dest[i] = nil
		}
	}
}

// flushWAL writes out what the connection's WAL buffer holds (walbuf.go):
// after a rollback, frames of the transaction that did not commit (spilled
// from the page cache) may be held there, and written later they would
// overwrite frames another connection (a purge, the meta table: database/
// sql's connection) committed at the same offsets since. Written now,
// under the writer lock, they lie beyond the last commit as SQLite's own
// unbuffered writes would.
func (c *wconn) flushWAL() error {
	if !walBuffered || c.db == 0 {
		return nil
	}
	*(*uintptr)(cptr(c.cell)) = 0
	if rc := sqlite3.Xsqlite3_file_control(c.tls, c.db, 0, sqlite3.SQLITE_FCNTL_JOURNAL_POINTER, c.cell); rc != sqlite3.SQLITE_OK {
		return c.errorOf(rc)
	}
	pFile := *(*uintptr)(cptr(c.cell))
	if pFile == 0 || *(*uintptr)(cptr(pFile)) == 0 { // no WAL open (pMethods NULL)
		return nil
	}
	b, ok := walBufs.Load(pFile)
	if !ok {
		return nil
	}
	if rc := b.(*walBuf).flush(c.tls, pFile); rc != sqlite3.SQLITE_OK {
		return c.errorOf(rc)
	}
	return nil
}

// errorOf is the driver's error for rc on this connection (its
// errstrForDB without _error_rc): "errstr: errmsg (rc)", or "errstr (rc)"
// when the two are the same, " (SQLITE_BUSY)" after a busy one.
func (c *wconn) errorOf(rc int32) error {
	str := libc.GoString(sqlite3.Xsqlite3_errstr(c.tls, rc))
	busy := ""
	if rc == sqlite3.SQLITE_BUSY {
		busy = " (SQLITE_BUSY)"
	}
	if c.db == 0 {
		return driverError(fmt.Sprintf("%s (%v)%s", str, rc, busy), int(rc))
	}
	if msg := libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db)); msg != str {
		return driverError(fmt.Sprintf("%s: %s (%v)%s", str, msg, rc, busy), int(rc))
	}
	return driverError(fmt.Sprintf("%s (%v)%s", str, rc, busy), int(rc))
}

// driverErrorLayout is modernc's sqlite.Error's layout (unexported fields,
// no constructor); TestDriverErrorLayout checks that the two agree.
type driverErrorLayout struct {
	msg  string
	code int
}

// driverError is an *sqlite.Error with msg and code, as the driver makes.
func driverError(msg string, code int) error {
	return (*msqlite.Error)(unsafe.Pointer(&driverErrorLayout{msg: msg, code: code}))
}

// wresult is a statement's driver.Result.
type wresult struct{ changed, lastID int64 }

func (r wresult) LastInsertId() (int64, error) { return r.lastID, nil }
func (r wresult) RowsAffected() (int64, error) { return r.changed, nil }
