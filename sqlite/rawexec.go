package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/publicmask/publicmask"
)

// The multi-row statements of a batch (buffer.go) run on the driver's
// connection directly, through sql.Conn.Raw, with driver statements
// prepared once per connection and an argument list kept across batches.
// Through database/sql, each of them built a fresh []driver.NamedValue of
// all its arguments (up to 128 rows × 13 columns, 66 KB), about a tenth of
// the bytes the server allocated per sale in a capacity rush, and went
// through its per-statement locking and conversion. Since then the
// transaction's other statements, its BEGIN, COMMIT and ROLLBACK too
// (SQLite's transaction is the connection's).

// rawStmts are the driver statements prepared on one driver connection.
type rawStmts struct {
	conn  any // the driver connection they belong to
	stmts map[string]driver.Stmt
}

// errRawUnsupported: the driver does not offer what the direct path needs.
var errRawUnsupported = errors.New("sqlite: driver without context-aware prepare and exec")

// stmt is q prepared on dc, preparing it on first use. A connection other
// than the one the cache was made on (the pool replaced it) starts a new
// cache: the old statements went with their connection.
func (r *rawStmts) stmt(ctx context.Context, dc any, q string) (driver.Stmt, error) {
	if r.conn != dc {
		r.conn, r.stmts = dc, make(map[string]driver.Stmt)
	}
	if st, ok := r.stmts[q]; ok {
		return st, nil
	}
	st, err := prepareRaw(ctx, dc, q)
	if err != nil {
		return nil, err
	}
	r.stmts[q] = st
	return st, nil
}

// execer is stmt for a statement that is executed, not queried.
func (r *rawStmts) execer(ctx context.Context, dc any, q string) (driver.StmtExecContext, error) {
	st, err := r.stmt(ctx, dc, q)
	if err != nil {
		return nil, err
	}
	return asExecer(st)
}

// asExecer is st as a statement that can be executed by the driver.
func asExecer(st driver.Stmt) (driver.StmtExecContext, error) {
	ex, ok := st.(driver.StmtExecContext)
	if !ok {
		return nil, errRawUnsupported
	}
	return ex, nil
}

// prepareRaw prepares q on the driver connection dc.
func prepareRaw(ctx context.Context, dc any, q string) (driver.Stmt, error) {
	pc, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return nil, errRawUnsupported
	}
	return pc.PrepareContext(ctx, q)
}

// close closes the statements (the Store's, before the writer closes).
func (r *rawStmts) close(conn *sql.Conn) error {
	if len(r.stmts) == 0 {
		return nil
	}
	return conn.Raw(func(dc any) error {
		var errs []error
		if dc == r.conn {
			for _, st := range r.stmts {
				errs = append(errs, st.Close())
			}
		}
		r.conn, r.stmts = nil, nil
		return errors.Join(errs...)
	})
}

// execRaw runs q with args on the transaction's driver connection and
// returns the rows it changed.
func (t *tx) execRaw(q string, args []any) (int64, error) {
	return t.execRawOnce(q, true, args)
}

// execRawOnce is execRaw with q kept prepared for the next time (keep) or
// prepared for this call alone: the statements of a bulk write's last,
// smaller group come in any size up to bulkRows.
func (t *tx) execRawOnce(q string, keep bool, args []any) (int64, error) {
	var changed int64
	err := t.onRawExec(q, keep, args, func(ex driver.StmtExecContext, nv []driver.NamedValue) error {
		var err error
		changed, err = t.execCount(ex, nv)
		return err
	})
	return changed, err
}

// onRawExec is onRaw for a statement that is executed, not queried.
func (t *tx) onRawExec(q string, keep bool, args []any, do func(driver.StmtExecContext, []driver.NamedValue) error) error {
	return t.onRaw(q, keep, args, func(st driver.Stmt, nv []driver.NamedValue) error {
		ex, err := asExecer(st)
		if err != nil {
			return err
		}
		return do(ex, nv)
	})
}

// queryRaw runs the query q with args on the transaction's driver
// connection (prepared to be kept, or for this call alone: see
// execRawOnce) and calls row with each row's values as the driver gives
// them, in a slice reused for the next row. Through database/sql each
// statement copied its arguments into a fresh []driver.NamedValue and each
// value of each row went through Scan's conversions; row must not run
// statements of its own. A row that returns errStopRows ends the query
// there, without a failure.
func (t *tx) queryRaw(q string, keep bool, args []any, row func([]driver.Value) error) error {
	return t.onRaw(q, keep, args, func(st driver.Stmt, nv []driver.NamedValue) error {
		qc, ok := st.(driver.StmtQueryContext)
		if !ok {
			return errRawUnsupported
		}
		rows, err := qc.QueryContext(t.ctx, nv)
		if err != nil {
			return err
		}
		closed := false
		defer func() {
			if !closed {
				rows.Close()
			}
		}()
		n := len(rows.Columns())
		if cap(t.dest) < n {
			t.dest = make([]driver.Value, n)
		}
		dest := t.dest[:n]
		for {
			if err = rows.Next(dest); err != nil {
				break
			}
			if err = row(dest); err != nil {
				break
			}
		}
		clear(dest)
		if errors.Is(err, io.EOF) || errors.Is(err, errStopRows) {
			err = nil
		}
		closed = true
		return errors.Join(err, rows.Close())
	})
}

// onRaw runs do with q prepared on the transaction's driver connection and
// args as the driver takes them (in a list reused by the next statement).
func (t *tx) onRaw(q string, keep bool, args []any, do func(driver.Stmt, []driver.NamedValue) error) error {
	return t.rawConn(func(dc any) (err error) {
		var st driver.Stmt
		if keep {
			st, err = t.s.raw.stmt(t.ctx, dc, q)
		} else {
			st, err = prepareRaw(t.ctx, dc, q)
		}
		if err != nil {
			return err
		}
		if !keep {
			// Deferred: a panic in do must not leave it unfinalized (a
			// statement left open keeps the connection from closing).
			defer func() { err = errors.Join(err, st.Close()) }()
		}
		nv := t.nv[:0]
		for i, a := range args {
			v, err := driverValue(a)
			if err != nil {
				return err
			}
			nv = append(nv, driver.NamedValue{Ordinal: i + 1, Value: v})
		}
		err = do(st, nv)
		clear(nv)
		t.nv = nv[:0]
		return err
	})
}

// rawConn runs do on the transaction's driver connection while the
// transaction may still go on: not once the write's context has ended
// (the write then rolls back: Store.write), nor after a failed statement
// (it runs nothing and returns that failure: see tx.err); do's own
// failure becomes the transaction's.
func (t *tx) rawConn(do func(dc any) error) error {
	if t.err != nil {
		return t.err
	}
	var p any
	err := t.conn.Raw(func(dc any) (err error) {
		defer func() {
			if p = recover(); p != nil {
				err = errRawPanic // not driver.ErrBadConn: the pool keeps the connection
			}
		}()
		if err := t.txCtx.Err(); err != nil {
			return err
		}
		return do(dc)
	})
	if p != nil {
		t.failed(errRawPanic)
		panic(p) // Store.write's deferred rollback runs on a usable connection
	}
	return t.failed(err)
}

var errRawPanic = errors.New("sqlite: panic on the driver connection")

// execCount runs a prepared statement and returns the rows it changed.
func (t *tx) execCount(ex driver.StmtExecContext, nv []driver.NamedValue) (int64, error) {
	res, err := ex.ExecContext(t.ctx, nv)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// driverValue is what database/sql's default conversion makes of a value
// (the common types first, without reflection).
func driverValue(a any) (driver.Value, error) {
	switch v := a.(type) {
	case nil, int64, float64, bool, []byte, string, time.Time:
		return v, nil
	case int:
		return int64(v), nil
	}
	return driver.DefaultParameterConverter.ConvertValue(a)
}

// rawOutlet is scanOutlet for the values of a row of outletCols as the
// driver gives them (queryRaw): what Scan would store, without its
// conversions through reflection.
func rawOutlet(v []driver.Value) (publicmask.Outlet, error) {
	var r valueReader
	o := publicmask.Outlet{
		Code: r.text(v[0]), Name: r.text(v[1]), Addr: r.text(v[2]), Type: r.text(v[3]),
		Lat: r.real(v[4]), Lng: r.real(v[5]), Stock: int(r.integer(v[6])), Suspended: r.boolean(v[7]),
		StockAt: r.nullTime(v[8]), UpdatedAt: r.nullTime(v[9]), Version: r.integer(v[10]), Sold: int(r.integer(v[11])),
	}
	return o, r.err
}

// valueReader converts driver values as Scan would into the field's type,
// keeping the first value it could not convert.
type valueReader struct{ err error }

func (r *valueReader) fail(v driver.Value, into string) {
	if r.err == nil {
		r.err = fmt.Errorf("sqlite: cannot read %T as %s", v, into)
	}
}

func (r *valueReader) text(v driver.Value) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	r.fail(v, "text")
	return ""
}

func (r *valueReader) integer(v driver.Value) int64 {
	if x, ok := v.(int64); ok {
		return x
	}
	r.fail(v, "integer")
	return 0
}

func (r *valueReader) real(v driver.Value) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	}
	r.fail(v, "real")
	return 0
}

// boolean is driver.Bool's conversion of a stored integer: 1 or 0.
func (r *valueReader) boolean(v driver.Value) bool {
	switch v {
	case int64(1):
		return true
	case int64(0):
		return false
	}
	r.fail(v, "boolean")
	return false
}

// nullTime is fromNullMicro of a nullable integer column.
func (r *valueReader) nullTime(v driver.Value) time.Time {
	if v == nil {
		return time.Time{}
	}
	return fromMicro(r.integer(v))
}

// A write transaction's control statements, run on the writer's driver
// connection as its other statements are, prepared once (Store.prepare).
// IMMEDIATE as the writer's DSN (_txlock) asked database/sql to begin:
// the write lock at once, not at the first write.
const (
	sqlBegin    = `BEGIN IMMEDIATE`
	sqlCommit   = `COMMIT`
	sqlRollback = `ROLLBACK`
)

// begin opens the transaction.
func (t *tx) begin() error {
	_, err := t.execRaw(sqlBegin, nil)
	return err
}

// commit commits the transaction, unless its context has ended (then it
// fails with the context's error, as database/sql's Commit did, and the
// caller rolls back). A COMMIT that fails may leave the transaction open
// (SQLITE_BUSY): it is rolled back, as the driver's own Commit does, so
// that the connection goes back without one.
func (t *tx) commit() error {
	_, err := t.execRaw(sqlCommit, nil)
	if err != nil {
		t.rollback()
	}
	return err
}

// rollback rolls the transaction back, whatever failed before and whether
// or not its context has ended; an error means that there was no
// transaction to roll back (SQLite rolled it back itself: INSERT OR
// ROLLBACK, a full disk) or that the connection failed.
func (t *tx) rollback() error {
	return t.conn.Raw(func(dc any) error {
		ex, err := t.s.raw.execer(t.ctx, dc, sqlRollback)
		if err != nil {
			return err
		}
		_, err = ex.ExecContext(t.ctx, nil)
		return err
	})
}
