package sqlite

import (
	"context"
	"os"
	"strconv"
	"time"

	"github.com/publicmask/publicmask/internal/fsx"
)

// Compaction once the writer goes quiet. A bulk load (an import of 540,000
// outlets, the opening deliveries) writes hundreds of MB of WAL in a few
// seconds. The background checkpoint copies it every 4 s, but its last pass
// after the load could fall into whatever comes next: the morning's first
// sales then waited behind the copy of the load's pages into the database
// file and its flush, and behind a pass under the writer lock on a long WAL
// (sale p99 of 70–800 ms at 500 sales/s right after a load, against 2–8 ms
// on a settled store). So when no commit has arrived for a poll interval
// and the WAL file is long, the checkpointer finishes the job at once:
// passes without the lock until little is left, then one pass under the
// writer lock in TRUNCATE mode, which copies the rest, flushes the database
// file (SQLite does, as in every complete checkpoint) and truncates the WAL
// to nothing; then a flush of the empty WAL, so that the journal commit
// that frees its blocks (and discards them, on a disk mounted with discard)
// is paid now rather than in the next sale's flush. SQLite orders the copy
// and its flushes as in any checkpoint: what a flush of the WAL made
// durable stays durable.

const (
	// quietPoll is how often the checkpointer looks for a quiet writer;
	// quietPolls is how many polls in a row (a second) must see no commit
	// and no write: fewer would compact between the bodies of a load too
	// (each compaction truncates a WAL the next body grows again).
	quietPoll  = 250 * time.Millisecond
	quietPolls = 4
	// compactWait bounds the TRUNCATE pass's wait for readers still on the
	// WAL (it holds the writer lock meanwhile); if one is, the next quiet
	// poll tries again.
	compactWait = 20 * time.Millisecond
	// busyTimeoutMS is the connections' own busy timeout (Open's DSN),
	// restored after the TRUNCATE pass.
	busyTimeoutMS = 10000
)

// compactBytes is the WAL file size from which a quiet writer gets a
// compaction: a few thousand sales' worth, so that a trickle of sales does
// not truncate and regrow the file every time it pauses. A variable for
// tests.
var compactBytes int64 = 16 << 20

// quiet is the checkpointer's view of the writer between polls.
type quiet struct {
	seen  uint64 // commits counted at the last poll
	still int    // polls in a row that saw no commit and no write
	tried uint64 // commits counted when a compaction was last tried
}

// compactIfQuiet compacts when nothing was committed and no write ran for
// quietPolls polls, something was committed since the last try, and the
// WAL is long; it reports whether it truncated the WAL. It tries once per
// quiet spell: if a reader kept the WAL, the next try waits for new
// commits (the 4 s passes go on copying meanwhile).
func (s *Store) compactIfQuiet(ctx context.Context, q *quiet) bool {
	if s.dur.err() != nil {
		return false // broken: refused writes look quiet, but the WAL must stay (checkpointOnce)
	}
	n := s.dur.committed.Load()
	if n != q.seen || s.writing.Load() != 0 {
		q.seen, q.still = n, 0 // commits arrived, or a write runs (perhaps stalled on the disk): not quiet
		return false
	}
	if q.still++; q.still < quietPolls || n == q.tried {
		return false
	}
	fi, err := os.Stat(s.dur.wal)
	if err != nil || fi.Size() < compactBytes {
		return false
	}
	q.tried = n
	defer since(s.m.compact, time.Now())
	ok, _, _ := s.compact(ctx)
	return ok
}

// compact copies the WAL into the database file and truncates it. It
// reports whether the WAL was truncated (not if a reader held part of it)
// and how long it held the writer lock.
func (s *Store) compact(ctx context.Context) (truncated bool, held time.Duration, err error) {
	frames, copied, err := s.ckpt.passive(ctx)
	if err != nil {
		return false, 0, err
	}
	if frames, copied, err = s.ckpt.catchUp(ctx, frames, copied); err != nil {
		return false, 0, err
	}
	if frames-copied >= catchUpFrames {
		// A reader holds part of the WAL: the pass under the lock would
		// wait for it, then copy the rest, holding the writer. Later.
		return false, 0, nil
	}
	// The pages copied so far go to disk now, without the writer lock:
	// SQLite flushes the database file only at the end of a pass that
	// copied all of the WAL, which here is the one under the lock.
	if err := s.syncDB(true); err != nil {
		return false, 0, err
	}
	s.writeMu.Lock()
	if err := s.dur.err(); err != nil {
		s.writeMu.Unlock()
		return false, 0, err // broken meanwhile: the WAL stays
	}
	t0 := time.Now()
	busy, err := s.ckpt.truncate(ctx)
	held = time.Since(t0)
	s.writeMu.Unlock()
	if err != nil {
		s.passFailed(ctx)
	}
	if err != nil || busy {
		return false, held, err
	}
	// The WAL by a descriptor of its own: SQLite takes no POSIX lock on it
	// that closing the descriptor could drop (the database file has syncDB).
	return true, held, fsx.SyncFile(s.dur.wal)
}

// truncate runs a TRUNCATE checkpoint that waits at most compactWait for
// readers; busy reports that it could not finish (the WAL is then left as
// a PASSIVE pass would leave it).
func (c *checkpointer) truncate(ctx context.Context) (busy bool, err error) {
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA busy_timeout = `+strconv.Itoa(int(compactWait/time.Millisecond))); err != nil {
		return false, err
	}
	defer conn.ExecContext(context.Background(), `PRAGMA busy_timeout = `+strconv.Itoa(busyTimeoutMS))
	var b, frames, copied int
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&b, &frames, &copied); err != nil {
		return false, err
	}
	return b != 0, nil
}
