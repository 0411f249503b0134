package sqlite

import (
	"fmt"
	"strings"
	"time"

	"github.com/publicmask/publicmask"
)

var _ publicmask.StockAdder = (*tx)(nil)

// sqlSetStock writes an outlet's new stock columns (AddStock): one
// look-up of the primary key. The row is computed in Go from the writer's
// copy (or read into it first), where an UPDATE … FROM (VALUES …)
// RETURNING of a group (before migration 00013) sought each row twice and
// sorted the changed rows through an ephemeral index before reading them
// back (BENCHMARKS.md, branch ld19).
//
// OR FAIL: a failing row ends the statement without undoing its earlier
// rows, so SQLite keeps no statement journal for it (a copy of every page
// the statement changes, ~6% of the update's CPU). Nothing here can fail
// a constraint, and any error fails the whole transaction, which is
// rolled back (Store.write), so the rows before it do not outlive it.
//
// Anonymous parameters (the time given twice): the driver asks SQLite for
// each parameter's name at every execution, and a numbered one (?1) comes
// back as a new Go string that it then parses.
const sqlSetStock = `UPDATE OR FAIL outlets SET stock = ?, stock_at = ?, updated_at = ?, version = ? WHERE code = ?`

// AddStock implements publicmask.StockAdder. Versions follow SaveOutlets':
// one per changed outlet, in the order of adds, no gaps. The rows are
// staged as SaveOutlets stages them and join the writer's copy once the
// commit succeeded (staged.load).
//
// Each outlet's new row is computed from the row the writer holds (its
// copy, or this transaction's own write: the copy answers like the
// database) and written by sqlSetStock, without reading it back: at
// 540,000 outlets the read-back was about a quarter of a delivery line's
// statement. Outlets the writer does not hold are read into its copy
// first (LockOutlets, a statement per group); a code with no row takes no
// version.
func (t *tx) AddStock(adds []publicmask.StockAdd, at time.Time) ([]publicmask.Outlet, error) {
	adds = distinctAdds(adds)
	base := t.s.version
	out := make([]publicmask.Outlet, 0, len(adds))
	// Pending stock updates first: they hold older versions of rows that
	// the copy (staged) already shows, and would overwrite these.
	if err := t.flush(); err != nil {
		return nil, fmt.Errorf("sqlite: add stock: %w", err)
	}
	var missing []string
	for _, a := range adds {
		if !t.isHeld(a.Outlet) {
			missing = append(missing, a.Outlet)
		}
	}
	if len(missing) > 0 {
		if _, err := t.LockOutlets(missing); err != nil {
			return nil, fmt.Errorf("sqlite: add stock: %w", err)
		}
	}
	atStored := fromMicro(micro(at))
	prev := make([]int64, 0, len(adds)) // the rows' versions before
	for _, a := range adds {
		o, ok := t.held(a.Outlet)
		if !ok {
			continue // no such outlet
		}
		prev = append(prev, o.Version)
		o.Stock += a.Quantity
		o.StockAt, o.UpdatedAt = atStored, atStored
		o.Version = base + int64(len(out)) + 1
		out = append(out, o)
	}
	found, n := []bool(nil), 0
	if len(out) > 0 {
		var err error
		if found, n, err = t.setStock(out, prev); err != nil {
			return nil, fmt.Errorf("sqlite: add stock: %w", err)
		}
	}
	if n < len(out) {
		// Rare: a held row gone from the table took no version. Number
		// the others again, in the order of adds, so that the change feed
		// has no gap.
		kept := out[:0]
		for i, o := range out {
			if !found[i] {
				continue
			}
			if v := base + int64(len(kept)) + 1; o.Version != v {
				if _, err := t.execText(`UPDATE outlets SET version = ? WHERE code = ?`, v, o.Code); err != nil {
					return nil, fmt.Errorf("sqlite: add stock: %w", err)
				}
				o.Version = v
			}
			kept = append(kept, o)
		}
		out = kept
	}
	// The change log's entries, with the final numbers (migration 00011:
	// no trigger appends them row by row).
	args := make([]any, 0, 2*min(len(out), bulkRows))
	err := inGroups(len(out), func(lo, hi int) error {
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

// sqlRetireChanges deletes the change-log entries of n held outlets'
// versions before (setStock): ?1…?n the versions. Each version is the
// entry's primary key (a search of the log's B-tree, as for one entry).
// The version is the outlet's: the writer assigned it to that outlet's row
// and to no other (versions only grow, each is taken once, and the log's
// entry of a version is appended by the statement that gave the version to
// its row), and its copy of the row is what AddStock computes the new stock
// from, so that it is trusted for the version as for the stock. A guard
// `AND code IN (…codes…)` (before) cost an ephemeral index of the group's
// codes and their text bindings, about a third of the retirement's CPU.
func sqlRetireChanges(n int) string {
	return `DELETE FROM outlet_changes WHERE version IN (` + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + `)`
}

var sqlRetireGroup = newGroupSQL(sqlRetireChanges)

// setStock writes rows' stock columns (sqlSetStock, kept prepared), one
// statement per row on the writer's connection (wconn.go), and reports
// which rows it found, and how many. prev are the rows' versions before:
// the change log's entry of each found row's previous version is stale
// from here on and is deleted at once, in groups (sqlRetireChanges: by
// primary key, where the pruning's steps — pruneChanges — walk the log and
// look up each entry's outlet; one statement per group of rows, where a
// one-row delete per outlet doubled setStock's statements), and those
// versions then do not pace the pruning (t.fresh).
func (t *tx) setStock(rows []publicmask.Outlet, prev []int64) (found []bool, n int, err error) {
	found = make([]bool, len(rows))
	var stockAt boxed
	err = t.onStmt(sqlSetStock, true, func(c *wconn, st *wstmt) error {
		args := make([]any, 0, 5)
		for i := range rows {
			o := &rows[i]
			at := stockAt.nullMicro(o.StockAt)
			args = append(args[:0], int64(o.Stock), at, at, o.Version, o.Code)
			k, err := c.exec(st, args)
			if err != nil {
				return err
			}
			if k == 1 {
				found[i] = true
				n++
			}
		}
		return nil
	})
	if err != nil {
		return found, n, err
	}
	kept := make([]int, 0, n) // the found rows
	for i, f := range found {
		if f {
			kept = append(kept, i)
		}
	}
	retired := 0
	args := make([]any, 0, min(n, bulkRows))
	err = inGroups(n, func(lo, hi int) error {
		args = args[:0]
		for _, i := range kept[lo:hi] {
			args = append(args, prev[i])
		}
		q, keep := sqlRetireGroup.text(hi - lo)
		c, err := t.execRawOnce(q, keep, args)
		retired += int(c)
		return err
	})
	t.fresh += int64(retired)
	return found, n, err
}

// distinctAdds is adds with each outlet once, its quantities summed, at
// its first add's place: two adds of one outlet would otherwise both start
// from its row before the call (the held path computes each row from the
// copy) and the later one would overwrite the earlier. The ledger passes
// distinct codes in code order: that is checked in one pass, and adds is
// then returned as it is.
func distinctAdds(adds []publicmask.StockAdd) []publicmask.StockAdd {
	sorted := true
	for i := 1; i < len(adds) && sorted; i++ {
		sorted = adds[i-1].Outlet < adds[i].Outlet
	}
	if sorted {
		return adds
	}
	at := make(map[string]int, len(adds))
	out := make([]publicmask.StockAdd, 0, len(adds))
	for _, a := range adds {
		if j, ok := at[a.Outlet]; ok {
			out[j].Quantity += a.Quantity
			continue
		}
		at[a.Outlet] = len(out)
		out = append(out, a)
	}
	if len(out) == len(adds) {
		return adds
	}
	return out
}
