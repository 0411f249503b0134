package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"time"
)

// Checkpoints run in the background. With SQLite's automatic checkpoint the
// commit that crosses the threshold copies the whole WAL into the database
// file and flushes it while it holds the writer: measured at 0.25 to 0.86 s
// every few seconds of a rush, a stall that every sale queued behind it
// waited out. Here a goroutine copies the WAL on its own connection
// (PASSIVE: it never blocks the writer) and takes the writer only for a
// last short pass over what was committed meanwhile, once the WAL is long
// enough to be worth restarting. SQLite orders the copy and its flushes
// itself (WAL flushed before the database is written, the database flushed
// before the WAL is reused), exactly as in the automatic checkpoint, so what
// a flush of the WAL made durable stays durable.

const (
	// checkpointEvery is how often the WAL is copied while commits arrive.
	// Each pass copies a page changed by many batches once; a pass every
	// second measured no better sale p99 than one every 4 s.
	checkpointEvery = 4 * time.Second
)

// restartFrames is the WAL length (pages: 128 MiB of 4 KiB pages as the
// automatic checkpoint had, 64 MiB of a new store's 2 KiB pages) after which the last pass runs under the writer lock, so
// that the next commit starts the WAL over instead of growing it. A
// variable for tests.
var restartFrames = 32768

// catchUpPasses bounds the passes without the lock after the first one;
// catchUpFrames is the number of frames committed during a pass below
// which the next pass is the one under the lock.
const (
	catchUpPasses = 3
	catchUpFrames = 256
)

type checkpointer struct {
	db     *sql.DB
	cancel context.CancelFunc
	done   chan struct{}
	// synced is the count of copied frames (the WAL's backfill) when this
	// checkpoint last flushed the database file: 0 when it begins
	// (everything copied counts as not flushed: SQLite flushes the file
	// only when no commit landed during a pass, which the counts it
	// returns do not tell) and when the WAL restarted between passes (a
	// pass sees fewer copied frames). Only the checkpoint's goroutine
	// touches it.
	synced int
	// low runs the passes without the writer lock (lowprio_*.go); it
	// lives until stop, past the goroutine (tests run passes after it).
	low *lowPriority
}

func (s *Store) startCheckpointer(db *sql.DB) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, cancel: cancel, done: make(chan struct{}), low: startLowPriority()}
	s.ckpt = c
	go func() {
		defer close(c.done)
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		qt := time.NewTicker(quietPoll) // compact.go
		defer qt.Stop()
		var q quiet
		last := s.dur.committed.Load()
		for {
			select {
			case <-ctx.Done():
				return
			case <-qt.C:
				s.compactIfQuiet(ctx, &q)
				continue
			case <-t.C:
			}
			n := s.dur.committed.Load()
			if n == last {
				continue // nothing new to copy
			}
			last = n
			s.checkpointOnce(ctx)
		}
	}()
}

// afterFirstPass, when set (tests only), runs between the passive pass and
// the pass under the writer lock: a commit there stands for the commits
// that arrive while the first pass copies.
var afterFirstPass func()

// lockPassCopied, when set (tests only), is told how many frames the pass
// under the writer lock copied.
var lockPassCopied func(n int)

// afterPass, when set (tests only), runs after each pass without the lock
// that follows the first.
var afterPass func()

// lockPassBegins, when set (tests only), is told, with the writer lock
// held, how many frames the passes copied into the database file since it
// was last flushed: what the pass under the lock must flush besides its own.
var lockPassBegins func(unsynced int)

// checkpointOnce copies the WAL into the database file; if the WAL is long,
// it finishes under the writer lock so that the WAL restarts. A failed pass
// costs only WAL length: the next one retries.
//
// The pass under the lock runs whenever the WAL is long, even if the first
// pass copied every frame it saw: under a rush the writer commits while
// that pass copies, so the WAL always ends past what it copied, no commit
// ever begins on a fully copied WAL, and the WAL never restarts (measured:
// 1.1 GB after a 12 s capacity rush, every frame written at the end of an
// ever longer file).
func (s *Store) checkpointOnce(ctx context.Context) (frames, copied int, err error) {
	if err := s.dur.err(); err != nil {
		return 0, 0, err // broken: the WAL may hold the only copy
	}
	frames, copied, err = s.checkpointPasses(ctx)
	if err != nil {
		s.passFailed(ctx)
	}
	switch {
	case err != nil && ctx.Err() == nil:
		s.ckptFails.Add(1)
		msg := err.Error()
		s.ckptErr.Store(&msg)
	case err == nil:
		s.ckptErr.Store(nil)
	}
	return frames, copied, err
}

// CheckpointHealth tells whether checkpoints fail (failing: the last one
// did, with lastErr), and how many have failed since the store opened. A
// checkpoint that cannot copy the WAL into the database file (a disk too
// full for the file to grow) costs no sale, but the WAL cannot restart and
// grows until the disk is full: the early warning of a full disk.
func (s *Store) CheckpointHealth() (failures int64, lastErr string, failing bool) {
	if e := s.ckptErr.Load(); e != nil {
		return s.ckptFails.Load(), *e, true
	}
	return s.ckptFails.Load(), "", false
}

// walBytes is the WAL file's length (0 if there is none).
func (s *Store) walBytes() int64 {
	fi, err := os.Stat(s.dur.wal)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// passFailed follows a failed checkpoint pass. It may have been SQLite's
// flush of the database file reporting an I/O error, and Linux reports a
// writeback error once per open file: retried on the same connection, the
// next pass would succeed, mark the WAL copied and let it restart over
// pages that never reached the disk. The store's own descriptor has not
// reported it yet: a flush through it tells, and breaks the store
// (syncDB). A pass that failed for another reason (busy, a cancelled
// context) costs one flush.
func (s *Store) passFailed(ctx context.Context) {
	if ctx.Err() == nil && s.dur.err() == nil {
		s.syncDB(false)
	}
}

// checkpointPasses is checkpointOnce's passes.
func (s *Store) checkpointPasses(ctx context.Context) (frames, copied int, err error) {
	// The passes without the lock run at a lower CPU priority (lowprio_*.go):
	// they hold nothing a sale waits for. The pass under the lock does, and
	// runs at the normal priority.
	var lock bool
	s.ckpt.low.run(func() { frames, copied, lock, err = s.passesWithoutLock(ctx) })
	if err != nil || !lock {
		return frames, copied, err
	}
	unsynced := copied - s.ckpt.synced
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.dur.err(); err != nil {
		return frames, copied, err // broken meanwhile (a write's flush failed)
	}
	defer since(s.m.locked, time.Now())
	if lockPassBegins != nil {
		lockPassBegins(unsynced)
	}
	f, c, err := s.ckpt.passive(ctx)
	if lockPassCopied != nil && err == nil {
		lockPassCopied(c - copied)
	}
	return f, c, err
}

// passesWithoutLock is checkpointPasses' passes before the writer lock;
// lock tells whether the pass under it is to follow.
func (s *Store) passesWithoutLock(ctx context.Context) (frames, copied int, lock bool, err error) {
	t0 := time.Now()
	s.ckpt.synced = 0
	frames, copied, err = s.ckpt.passive(ctx)
	if err != nil || frames < restartFrames {
		since(s.m.passive, t0)
		return frames, copied, false, err
	}
	if afterFirstPass != nil {
		afterFirstPass()
	}
	// Catch up without the lock first: each pass copies what was committed
	// while the previous one ran, so the pass under the lock (which stalls
	// every sale) is left only a few milliseconds' worth of frames. With the
	// lock taken straight after a 4 s pass it held the writer 21–45 ms.
	frames, copied, err = s.ckpt.catchUp(ctx, frames, copied)
	if err != nil {
		since(s.m.passive, t0)
		return frames, copied, false, err
	}
	// And flush the database file without the lock. A pass that copies the
	// WAL's last frame flushes the database file (SQLite does, before the
	// WAL may be reused), and under a rush only the pass under the lock
	// does: its flush then carried every page the passes before it had
	// copied, tens of MB, and held the writer 50–200 ms (every sale queued
	// behind it). Flushed here, the pass under the lock flushes only what
	// it copies itself and the catch-up after the flush.
	frames, copied, err = s.flushCopied(ctx, frames, copied)
	since(s.m.passive, t0)
	// A failed flush left the store broken (syncDB): the WAL, perhaps the
	// only copy of what the flush lost, is not restarted.
	return frames, copied, err == nil, err
}

// flushRounds bounds flushCopied's rounds of (flush, catch-up pass).
const flushRounds = 3

// flushCopied flushes the database file (the pages the passes copied into
// it) and catches up on what was committed meanwhile, until the pages
// copied since the last flush are fewer than catchUpFrames or
// flushRounds rounds ran; it returns the last pass's counts.
func (s *Store) flushCopied(ctx context.Context, frames, copied int) (int, int, error) {
	for range flushRounds {
		if copied-s.ckpt.synced < catchUpFrames {
			break
		}
		if err := s.syncDB(false); err != nil {
			return frames, copied, err
		}
		s.ckpt.synced = copied
		f, c, err := s.ckpt.passive(ctx)
		if err != nil {
			return frames, copied, err
		}
		if afterPass != nil {
			afterPass()
		}
		frames, copied = f, c
	}
	return frames, copied, nil
}

// catchUp runs up to catchUpPasses more passive passes after one that saw
// frames, until a pass finds fewer than catchUpFrames new ones; it returns
// the last pass's counts (frames, copied as given if no pass ran).
func (c *checkpointer) catchUp(ctx context.Context, frames, copied int) (int, int, error) {
	for range catchUpPasses {
		f, cp, err := c.passive(ctx)
		if err != nil {
			return f, cp, err
		}
		if afterPass != nil {
			afterPass()
		}
		fresh := f - frames
		frames, copied = f, cp
		if fresh < catchUpFrames {
			break
		}
	}
	return frames, copied, nil
}

func (c *checkpointer) passive(ctx context.Context) (frames, copied int, err error) {
	var busy int
	err = c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
	if err == nil && copied < c.synced {
		c.synced = 0 // the WAL restarted: the count starts over
	}
	return frames, copied, err
}

// openDBFile opens the database file at path for syncDB; nil for an
// in-memory store.
func openDBFile(path string) (*os.File, error) {
	if path == "" || strings.HasPrefix(path, ":") || strings.HasPrefix(path, "file:") {
		return nil, nil
	}
	return os.Open(path)
}

// syncDB flushes the database file through the descriptor the store holds
// (see Store.dbFile): its data only (fdatasync where there is one) or, with
// full, its metadata too. A failure is an I/O error on the file (the
// descriptor cannot go stale): the pages the checkpoint copied may be lost
// while the WAL that holds them could be restarted, so, as for a failed
// flush of the WAL, the store promises nothing more (Ping fails, writes
// refuse) until a restart lets SQLite recover from the WAL.
func (s *Store) syncDB(full bool) error {
	if s.dbFile == nil {
		return nil
	}
	s.dbSyncs.Add(1)
	var err error
	if full {
		err = s.dbFile.Sync()
	} else {
		err = datasync(s.dbFile)
	}
	if err != nil {
		err = fmt.Errorf("sqlite: flush %s: %w", s.path, err)
		s.dur.fail(err)
	}
	return err
}

// stop ends the checkpoint goroutine, leaving its connection open.
func (c *checkpointer) stop() {
	c.cancel()
	<-c.done
	c.low.stop()
}
