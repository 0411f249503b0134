package sqlite

import (
	"database/sql/driver"
	"fmt"
	"slices"
	"time"

	"github.com/publicmask/publicmask"
)

var _ publicmask.StockAdder = (*tx)(nil)

// sqlAddStock adds a group's quantities in one statement: in place of a
// read of each outlet (LockOutlets) and an upsert of its twelve columns
// (SaveOutlets), which were a quarter of the opening deliveries' CPU at
// 540,000 outlets (BENCHMARKS.md "Bulk loading, 3rd pass"). ?1 is the
// time; each row of v is (code, quantity, version).
//
// OR FAIL: a failing row ends the statement without undoing its earlier
// rows, so SQLite keeps no statement journal for it (a copy of every page
// the statement changes, ~6% of the update's CPU). Nothing here can fail
// a constraint, and any error fails the whole transaction, which is
// rolled back (Store.write), so the rows before it do not outlive it.
func sqlAddStock(n int) string {
	return `UPDATE OR FAIL outlets SET stock = stock + v.column2, stock_at = ?1, updated_at = ?1, version = v.column3 FROM (VALUES ` +
		values(n, 3) + `) AS v WHERE outlets.code = v.column1 RETURNING ` + outletCols
}

var sqlAddStockGroup = newGroupSQL(sqlAddStock)

// AddStock implements publicmask.StockAdder. Versions follow SaveOutlets':
// one per changed outlet, in the order of adds, no gaps. The rows are
// staged as SaveOutlets stages them and, being read from the store, join
// the writer's copy once the commit succeeded (staged.load), as
// LockOutlets' rows do.
func (t *tx) AddStock(adds []publicmask.StockAdd, at time.Time) ([]publicmask.Outlet, error) {
	base := t.s.version
	out := make([]publicmask.Outlet, 0, len(adds))
	args := make([]any, 0, 1+3*min(len(adds), bulkRows))
	atArg := micro(at)
	err := inGroups(len(adds), func(lo, hi int) error {
		args = append(args[:0], atArg)
		for i, a := range adds[lo:hi] {
			args = append(args, a.Outlet, a.Quantity, base+int64(lo+i)+1)
		}
		return t.bulkQuery(sqlAddStockGroup, hi-lo, args, func(v []driver.Value) error {
			o, err := rawOutlet(v)
			out = append(out, o)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: add stock: %w", err)
	}
	if len(out) < len(adds) {
		// Unknown codes took no version: number the rows again, in the
		// order of adds, so that the change feed has no gap (rare: a list
		// naming an outlet that does not exist).
		slices.SortFunc(out, func(a, b publicmask.Outlet) int { return int(a.Version - b.Version) })
		for i := range out {
			v := base + int64(i) + 1
			if out[i].Version == v {
				continue
			}
			if _, err := t.tx.ExecContext(t.ctx, `UPDATE outlets SET version = ? WHERE code = ?`, v, out[i].Code); err != nil {
				return nil, fmt.Errorf("sqlite: add stock: %w", err)
			}
			out[i].Version = v
		}
	}
	// The change log's entries, with the final numbers (migration 00011:
	// no trigger appends them row by row).
	err = inGroups(len(out), func(lo, hi int) error {
		args = args[:0]
		for _, o := range out[lo:hi] {
			args = append(args, o.Version, o.Code)
		}
		return t.logChanges(args)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: add stock: %w", err)
	}
	t.s.version = base + int64(len(out))
	if len(t.st.outlets) == 0 {
		t.st.outlets = make(map[string]publicmask.Outlet, len(out)) // not grown row by row
	}
	for _, o := range out {
		t.st.outlets[o.Code] = o
		t.st.load = append(t.st.load, o.Code)
	}
	return out, nil
}
