//go:build sqlite_cgo

package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net/url"
	"strings"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// The cgo build (go build -tags sqlite_cgo; needs a C compiler): SQLite
// compiled from C by github.com/mattn/go-sqlite3 instead of the transpiled
// modernc.org/sqlite. The store's code is the same; this file registers, as
// "sqlite", a driver that takes the DSNs written for modernc.org/sqlite
// (sqlite.go) and opens them with mattn's driver: each _pragma=name(value)
// runs as PRAGMA name = value on every new connection, in the DSN's order,
// _time_format=sqlite is mattn's own way of writing a time.Time (the store
// keeps times as integers anyway), and the rest (mode, _txlock) mean the
// same to both drivers.

func init() {
	sql.Register("sqlite", cgoDriver{})
}

// walBufAvailable: the WAL buffer is a hook into modernc.org/sqlite's VFS
// (walbuf.go); the C build writes the WAL as SQLite does, two writes per
// frame.
const walBufAvailable = false

var walBuffered = false

const walBufVFSName = ""

func registerWALBufVFS() error {
	return errors.New("sqlite: the WAL buffer needs the pure-Go build")
}

type cgoDriver struct{}

func (cgoDriver) Open(dsn string) (driver.Conn, error) {
	mdsn, pragmas, err := cgoDSN(dsn)
	if err != nil {
		return nil, err
	}
	c, err := (&sqlite3.SQLiteDriver{}).Open(mdsn)
	if err != nil {
		return nil, err
	}
	sc := c.(*sqlite3.SQLiteConn)
	for _, p := range pragmas {
		if _, err := sc.Exec("PRAGMA "+p, nil); err != nil {
			sc.Close()
			return nil, err
		}
	}
	return &cgoConn{sc}, nil
}

// cgoConn and cgoStmt run writes (Exec, BEGIN) without the context's
// cancellation: mattn's driver runs each statement executed with a context
// that can end on a goroutine of its own, to interrupt SQLite when the
// context ends, which cost a goroutine and two switches per statement.
// Writes are short statements, and database/sql still rolls back the
// transaction of a context that ended; queries keep their interruption
// (mattn's is a context.AfterFunc there, no goroutine).
type cgoConn struct{ *sqlite3.SQLiteConn }

func (c *cgoConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	st, err := c.SQLiteConn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &cgoStmt{st.(*sqlite3.SQLiteStmt)}, nil
}

func (c *cgoConn) Prepare(q string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), q)
}

func (c *cgoConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	return c.SQLiteConn.ExecContext(context.WithoutCancel(ctx), q, args)
}

func (c *cgoConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.SQLiteConn.BeginTx(context.WithoutCancel(ctx), opts)
}

type cgoStmt struct{ *sqlite3.SQLiteStmt }

func (s *cgoStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.SQLiteStmt.ExecContext(context.WithoutCancel(ctx), args)
}

// cgoDSN is a modernc.org/sqlite DSN as mattn's: its own parameters and
// the pragmas to run on each connection ("name = value").
func cgoDSN(dsn string) (string, []string, error) {
	base, query, _ := strings.Cut(dsn, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", nil, err
	}
	var pragmas []string
	for _, p := range q["_pragma"] {
		name, val, ok := strings.Cut(p, "(")
		if !ok || !strings.HasSuffix(val, ")") {
			return "", nil, errors.New("sqlite: _pragma " + p + ": want name(value)")
		}
		pragmas = append(pragmas, name+" = "+strings.TrimSuffix(val, ")"))
	}
	out := url.Values{}
	for k, vs := range q {
		switch k {
		case "_pragma", "_time_format":
			continue
		}
		out[k] = vs
	}
	// database/sql hands a connection to one goroutine at a time (sql.Conn.Raw
	// included): SQLite's own per-connection mutex would guard nothing.
	out.Set("_mutex", "no")
	if !strings.HasPrefix(base, "file:") {
		base = "file:" + base
	}
	return base + "?" + out.Encode(), pragmas, nil
}
