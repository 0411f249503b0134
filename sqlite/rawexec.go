package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"time"
)

// The multi-row statements of a batch (buffer.go) run on the driver's
// connection directly, through sql.Conn.Raw, with driver statements
// prepared once per connection and an argument list kept across batches.
// Through database/sql, each of them built a fresh []driver.NamedValue of
// all its arguments (up to 128 rows × 13 columns, 66 KB), about a tenth of
// the bytes the server allocated per sale in a capacity rush, and went
// through its per-statement locking and conversion. The statements still
// run inside the transaction begun on the same connection (SQLite's
// transaction is the connection's), so nothing of their meaning changes.

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
func (r *rawStmts) stmt(ctx context.Context, dc any, q string) (driver.StmtExecContext, error) {
	if r.conn != dc {
		r.conn, r.stmts = dc, make(map[string]driver.Stmt)
	}
	st, ok := r.stmts[q]
	if !ok {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return nil, errRawUnsupported
		}
		var err error
		if st, err = pc.PrepareContext(ctx, q); err != nil {
			return nil, err
		}
		r.stmts[q] = st
	}
	ex, ok := st.(driver.StmtExecContext)
	if !ok {
		return nil, errRawUnsupported
	}
	return ex, nil
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
	var changed int64
	err := t.conn.Raw(func(dc any) error {
		// The transaction ends with the write's context: database/sql then
		// rolls it back from its own goroutine and keeps the connection, so
		// a statement run here afterwards would commit on its own. Raw holds
		// the connection's lock, which that rollback needs, so checking here
		// is enough: a rollback either happened (the context has ended) or
		// waits until this statement is done and undoes it too.
		if err := t.txCtx.Err(); err != nil {
			return err
		}
		st, err := t.s.raw.stmt(t.ctx, dc, q)
		if err != nil {
			return err
		}
		nv := t.nv[:0]
		for i, a := range args {
			v, err := driverValue(a)
			if err != nil {
				return err
			}
			nv = append(nv, driver.NamedValue{Ordinal: i + 1, Value: v})
		}
		res, err := st.ExecContext(t.ctx, nv)
		clear(nv)
		t.nv = nv[:0]
		if err != nil {
			return err
		}
		changed, err = res.RowsAffected()
		return err
	})
	return changed, err
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
