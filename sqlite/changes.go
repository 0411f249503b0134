package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
)

// The change feed (migration 00008): every new version of an outlet is
// appended to outlet_changes (by the statements that write it since
// migrations 00010 and 00011; by triggers before), at the end of its B-tree, where
// an index on outlets (version) paid each change with a delete at the old
// version's random place. The feed joins each entry to its outlet's
// current row and keeps it only while the outlet still has that version,
// so an outlet appears once, at its latest version, exactly as the index
// gave it; a stale entry (its outlet changed since) is never read and may
// be deleted at any time. The writer deletes them in steps (pruneChanges):
// a cursor walks the log, every pruneEvery new versions, over 3/2 as many
// entries as versions were assigned since the step before (at most
// pruneMax, so that a bulk load's backlog is spread over later writes),
// and starts again from the beginning once it reaches the end.
// Each pass reads the live entries (one per outlet) once, and the log
// holds at most those, plus the entries appended since the pass before.

// sqlChanges reads the feed: the log drives the join (its primary key gives
// the order), each entry one look-up of its outlet's primary key.
const sqlChanges = `SELECT ` + outletCols + `
	FROM outlet_changes c CROSS JOIN outlets o ON o.code = c.code AND o.version = c.version CROSS JOIN outlet_registry r ON r.code = o.code
	WHERE c.version > ? ORDER BY c.version LIMIT ?`

// sqlPruneEnd is the last version of a step: the pruneStep-th entry after
// the cursor, if there is one.
const sqlPruneEnd = `SELECT version FROM outlet_changes WHERE version > ? ORDER BY version LIMIT 1 OFFSET ?`

// sqlPrune deletes the stale entries of a range.
const sqlPrune = `DELETE FROM outlet_changes WHERE version > ? AND version <= ?
	AND NOT EXISTS (SELECT 1 FROM outlets o WHERE o.code = outlet_changes.code AND o.version = outlet_changes.version)`

// pruneEvery and pruneMax pace the pruning (variables for tests).
var (
	pruneEvery int64 = 512
	pruneMax   int64 = 8192
)

// pruneChanges runs a step of the pruning when pruneEvery versions were
// assigned since the last; t has written its rows (the step reads the
// outlets' versions as the transaction leaves them).
func (t *tx) pruneChanges() error {
	s := t.s
	// The first versions of new outlets make no entry stale: the pace
	// follows the versions that supersede others (an import of new outlets
	// started a step every 512 of them, reading 8,192 live entries for
	// nothing).
	due := s.version - s.prunedAt - s.fresh - t.fresh
	if due < pruneEvery {
		return nil
	}
	step := min((3*due+1)/2, pruneMax)
	var end int64
	err := t.rowStmt(sqlPruneEnd, s.pruneCursor, step-1).Scan(&end)
	wrap := errors.Is(err, sql.ErrNoRows)
	if wrap {
		end, err = s.version, nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: prune changes: %w", err)
	}
	if _, err := t.execStmt(sqlPrune, s.pruneCursor, end); err != nil {
		return fmt.Errorf("sqlite: prune changes: %w", err)
	}
	// Kept in the Store only once the transaction commits (Store.write).
	t.pruned, t.cursor = true, end
	if wrap {
		t.cursor = 0
	}
	return nil
}

// sqlChangesInsert appends n entries (version, code) to the log. OR
// REPLACE, as the triggers did: an entry may be appended again (an
// upsert's fallback after a stock update that found no row).
func sqlChangesInsert(n int) string {
	return `INSERT OR REPLACE INTO outlet_changes (version, code) VALUES ` + values(n, 2)
}

// sqlChangeInsert is sqlChangesInsert of one entry.
var sqlChangeInsert = sqlChangesInsert(1)

// logChanges appends entries to the change log in one statement: args
// are their (version, code) pairs, at most bulkRows of them (SaveOutlets;
// migration 00010).
func (t *tx) logChanges(args []any) error {
	n := len(args) / 2
	if n == 0 {
		return nil
	}
	if err := t.bulkExec(sqlChangesGroup, n, args); err != nil {
		return fmt.Errorf("sqlite: outlet changes: %w", err)
	}
	return nil
}
