package sqlite

import (
	"context"
	"database/sql"
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
}

func (s *Store) startCheckpointer(db *sql.DB) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, cancel: cancel, done: make(chan struct{})}
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
	t0 := time.Now()
	frames, copied, err = s.ckpt.passive(ctx)
	if err != nil || frames < restartFrames {
		since(s.m.passive, t0)
		return frames, copied, err
	}
	if afterFirstPass != nil {
		afterFirstPass()
	}
	// Catch up without the lock first: each pass copies what was committed
	// while the previous one ran, so the pass under the lock (which stalls
	// every sale) is left only a few milliseconds' worth of frames. With the
	// lock taken straight after a 4 s pass it held the writer 21–45 ms.
	frames, copied, err = s.ckpt.catchUp(ctx, frames, copied)
	since(s.m.passive, t0)
	if err != nil {
		return frames, copied, err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	defer since(s.m.locked, time.Now())
	f, c, err := s.ckpt.passive(ctx)
	if lockPassCopied != nil && err == nil {
		lockPassCopied(c - copied)
	}
	return f, c, err
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
	return frames, copied, err
}

func (c *checkpointer) close() error {
	c.cancel()
	<-c.done
	return c.db.Close()
}
