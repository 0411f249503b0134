package sqlite

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/publicmask/publicmask"
)

// The write transaction's statements, BEGIN, COMMIT and ROLLBACK included,
// run on the writer's own connection (wconn.go), over modernc's translated
// SQLite directly. Earlier passes took them off database/sql (a fresh
// []driver.NamedValue per statement, its locking and conversions) onto the
// driver's connection; off the driver too, a text is no longer copied into
// a C string of its own, nor is every call behind a connection mutex.

// execRaw runs q with args on the writer's connection and returns the
// rows it changed.
func (t *tx) execRaw(q string, args []any) (int64, error) {
	return t.execRawOnce(q, true, args)
}

// execRawOnce is execRaw with q kept prepared for the next time (keep) or
// prepared for this call alone: the statements of a bulk write's last,
// smaller group come in any size up to bulkRows.
func (t *tx) execRawOnce(q string, keep bool, args []any) (int64, error) {
	var changed int64
	err := t.onStmt(q, keep, func(c *wconn, st *wstmt) (err error) {
		changed, err = c.exec(st, args)
		return err
	})
	return changed, err
}

// queryRaw runs the query q with args on the writer's connection (prepared
// to be kept, or for this call alone: see execRawOnce) and calls row with
// each row's values as the driver would give them, in a slice reused for
// the next row; row must not run statements of its own. A row that
// returns errStopRows ends the query there, without a failure.
func (t *tx) queryRaw(q string, keep bool, args []any, row func([]driver.Value) error) error {
	return t.onStmt(q, keep, func(c *wconn, st *wstmt) error {
		if cap(t.dest) < st.cols {
			t.dest = make([]driver.Value, st.cols)
		}
		dest := t.dest[:st.cols]
		err := c.query(st, args, dest, row)
		clear(dest)
		if errors.Is(err, errStopRows) {
			err = nil
		}
		return err
	})
}

// onStmt runs do with q prepared on the writer's connection: kept in its
// cache, or finalized after do (also should do panic).
func (t *tx) onStmt(q string, keep bool, do func(*wconn, *wstmt) error) error {
	return t.rawConn(func(c *wconn) (err error) {
		var st *wstmt
		if keep {
			st, err = c.stmt(q)
		} else {
			st, err = c.prepare(q, false)
		}
		if err != nil {
			return err
		}
		if !keep {
			defer c.finalize(st)
		}
		return do(c, st)
	})
}

// rawConn runs do on the writer's connection while the transaction may
// still go on: not once the write's context has ended (the write then
// rolls back: Store.write), nor after a failed statement (it runs nothing
// and returns that failure: see tx.err); do's own failure becomes the
// transaction's, and so does a panic (re-raised: Store.write rolls back).
func (t *tx) rawConn(do func(*wconn) error) error {
	if t.err != nil {
		return t.err
	}
	if err := t.txCtx.Err(); err != nil {
		return t.failed(err)
	}
	defer func() {
		if p := recover(); p != nil {
			t.failed(errRawPanic)
			panic(p)
		}
	}()
	return t.failed(do(t.s.wc))
}

var errRawPanic = errors.New("sqlite: panic on the writer's connection")

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
// or not its context has ended, and writes out the WAL frames it may have
// left buffered (wconn.flushWAL); an error means that there was no
// transaction to roll back (SQLite rolled it back itself: INSERT OR
// ROLLBACK, a full disk) or that the connection failed.
func (t *tx) rollback() error {
	c := t.s.wc
	st, err := c.stmt(sqlRollback)
	if err == nil {
		_, err = c.exec(st, nil)
	}
	return errors.Join(err, c.flushWAL())
}
