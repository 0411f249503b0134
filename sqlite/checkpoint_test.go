package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The background checkpoint copies the whole WAL while no commit runs, and
// once the WAL is long the next commit starts it over: the WAL file stops
// growing although writes go on.
func TestBackgroundCheckpointRestartsTheWAL(t *testing.T) {
	defer func(n int) { restartFrames = n }(restartFrames)
	restartFrames = 2048
	s := openTest(t)
	stopBackgroundCheckpoints(s)
	ctx := context.Background()
	pass := func() (int, int) {
		t.Helper()
		frames, copied, err := s.checkpointOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return frames, copied
	}
	for i := range 50 {
		if err := putMeta(s, i); err != nil {
			t.Fatal(err)
		}
	}
	if frames, copied := pass(); frames == 0 || copied != frames {
		t.Fatalf("quiet checkpoint copied %d of %d frames", copied, frames)
	}
	// Grow the WAL past restartFrames, checkpoint, and check that later
	// commits reuse the file instead of growing it.
	fillWALPastRestart(t, s)
	if frames, copied := pass(); frames < restartFrames || copied != frames {
		t.Fatalf("long WAL: checkpoint copied %d of %d frames", copied, frames)
	}
	fi, err := os.Stat(s.path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := putMeta(s, i); err != nil {
			t.Fatal(err)
		}
	}
	frames, _ := pass()
	if frames >= restartFrames {
		t.Fatalf("after a full checkpoint the WAL did not restart: %d frames", frames)
	}
	if fi2, err := os.Stat(s.path + "-wal"); err != nil || fi2.Size() != fi.Size() {
		t.Fatalf("WAL file grew from %d bytes after the restart (%v, %v)", fi.Size(), fi2, err)
	}
}

// stopBackgroundCheckpoints ends the store's checkpoint goroutine (its
// connection stays open for checkpointOnce): these tests take the passes
// themselves, and a background pass on the 4 s tick of a slow run would
// call their hooks first (seen on a loaded machine: the open write
// committed twice, or the test's WAL already restarted).
func stopBackgroundCheckpoints(s *Store) {
	s.ckpt.cancel()
	<-s.ckpt.done
}

// fillWALPastRestart commits until the WAL is longer than restartFrames:
// the next checkpoint is one that must end under the writer lock.
func fillWALPastRestart(t *testing.T, s *Store) {
	t.Helper()
	// A frame is a page and its 24-byte header. (With 4 KiB assumed, a
	// store of smaller pages was filled for so long that the background
	// checkpoint ran meanwhile and took the tests' hooks.)
	var page int64
	if err := s.writer.QueryRow(`PRAGMA page_size`).Scan(&page); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if err := putMeta(s, i); err != nil {
			t.Fatal(err)
		}
		if i%200 == 0 {
			if fi, err := os.Stat(s.path + "-wal"); err == nil && fi.Size() > int64(restartFrames+256)*(page+24) {
				return
			}
		}
	}
}

// openWrite begins a write on the writer connection and leaves it open: a
// commit that began before a checkpoint pass and ends after it.
func openWrite(t *testing.T, s *Store) *sql.Tx {
	t.Helper()
	ctx := context.Background()
	wtx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wtx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('h12-test', 'x')`); err != nil {
		t.Fatal(err)
	}
	return wtx
}

// Commits that arrive while the passive pass copies (as under a rush, when
// the writer never pauses) leave the WAL past what that pass copied; the
// pass under the writer lock must still run, or no commit ever begins on a
// fully copied WAL and the WAL grows without end.
func TestBackgroundCheckpointRestartsTheWALUnderCommits(t *testing.T) {
	defer func(n int) { restartFrames = n }(restartFrames)
	defer func() { afterFirstPass = nil }()
	restartFrames = 2048
	s := openTest(t)
	stopBackgroundCheckpoints(s)
	ctx := context.Background()
	fillWALPastRestart(t, s)
	// A commit that began before the pass and ends after it, then more:
	// they append to the WAL that the pass copied only in part.
	wtx := openWrite(t, s)
	ran := false
	afterFirstPass = func() {
		ran = true
		if err := wtx.Commit(); err != nil {
			t.Error(err)
		}
		for i := range 20 {
			if err := putMeta(s, i); err != nil {
				t.Error(err)
			}
		}
	}
	frames, copied, err := s.checkpointOnce(ctx)
	after := afterFirstPass
	afterFirstPass = nil
	if !ran {
		after() // the commits come anyway; only the lock pass is missing
	}
	if err != nil {
		t.Fatal(err)
	}
	if frames < restartFrames || copied != frames {
		t.Fatalf("long WAL: checkpoint copied %d of %d frames", copied, frames)
	}
	fi, err := os.Stat(s.path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := putMeta(s, i); err != nil {
			t.Fatal(err)
		}
	}
	frames, _, err = s.checkpointOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if frames >= restartFrames {
		t.Fatalf("commits during the first pass: the WAL did not restart (%d frames)", frames)
	}
	if fi2, err := os.Stat(s.path + "-wal"); err != nil || fi2.Size() != fi.Size() {
		t.Fatalf("WAL file grew from %d bytes after the restart (%v, %v)", fi.Size(), fi2, err)
	}
}

// What was committed during the first pass is copied before the writer
// lock is taken, so the pass under the lock (every sale waits for it) has
// only what arrived during the last pass without it.
func TestBackgroundCheckpointCatchesUpBeforeTheLock(t *testing.T) {
	defer func(n int) { restartFrames = n }(restartFrames)
	defer func() { afterFirstPass, lockPassCopied = nil, nil }()
	restartFrames = 2048
	s := openTest(t)
	stopBackgroundCheckpoints(s)
	ctx := context.Background()
	fillWALPastRestart(t, s)
	// As under load: a commit that began before the first pass ends after
	// it, and more follow, appended to the WAL that pass copied.
	wtx := openWrite(t, s)
	ran := false
	afterFirstPass = func() {
		ran = true
		if err := wtx.Commit(); err != nil {
			t.Error(err)
		}
		for i := range 300 {
			if err := putMeta(s, i); err != nil {
				t.Error(err)
			}
		}
	}
	locked := -1
	lockPassCopied = func(n int) { locked = n }
	frames, copied, err := s.checkpointOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !ran {
		wtx.Rollback()
	}
	if !ran || locked < 0 {
		t.Fatalf("the checkpoint did not take its passes (hook ran %v, lock pass copied %d)", ran, locked)
	}
	if copied != frames {
		t.Fatalf("checkpoint copied %d of %d frames", copied, frames)
	}
	if locked >= catchUpFrames {
		t.Fatalf("the pass under the writer lock copied %d frames (the commits of the first pass)", locked)
	}
}

// The pass under the writer lock copies the WAL's last frames and, having
// copied them all, flushes the database file: every page copied since the
// file was last flushed. Under a rush no pass without the lock ever copies
// the last frame (commits go on during each), so that flush carried all
// the passes' pages (tens of MB; 50–200 ms with the writer held). The
// passes' pages are flushed before the lock is taken: the pass under it
// is left fewer than catchUpFrames of them, however long the WAL.
func TestBackgroundCheckpointFlushesBeforeTheLock(t *testing.T) {
	defer func(n int) { restartFrames = n }(restartFrames)
	defer func() { afterFirstPass, afterPass, lockPassBegins = nil, nil, nil }()
	restartFrames = 2048
	s := openTest(t)
	stopBackgroundCheckpoints(s)
	ctx := context.Background()
	fillWALPastRestart(t, s)
	// As under a rush: commits after every pass without the lock. (In a
	// rush they land during each pass, so that none copies the WAL's last
	// frame, the pass SQLite flushes the file after; here a pass may copy
	// all there is and SQLite flush it, which the counts below cannot
	// tell: they check the bookkeeping, and that the store's flush ran.)
	commits := func(n int) {
		for i := range n {
			if err := putMeta(s, i); err != nil {
				t.Error(err)
			}
		}
	}
	// A transaction begun before each pass and committed after it stands
	// for the commits that land while a pass copies: the WAL then ends
	// past what the pass copied, and it does not restart.
	wtx := openWrite(t, s)
	ran := false
	next := func(n int) {
		if err := wtx.Commit(); err != nil {
			t.Error(err)
		}
		commits(n)
		wtx = openWrite(t, s)
	}
	afterFirstPass = func() { ran = true; next(300) }
	passes := 0
	afterPass = func() { passes++; next(20) }
	unsynced := -1
	syncsBeforeLock := int64(-1)
	lockPassBegins = func(n int) { unsynced, syncsBeforeLock = n, s.dbSyncs.Load() }
	frames, copied, err := s.checkpointOnce(ctx)
	wtx.Rollback()
	if err != nil {
		t.Fatal(err)
	}
	if !ran || unsynced < 0 || copied != frames || frames < restartFrames || passes == 0 {
		t.Fatalf("no pass under the lock after a long WAL (copied %d of %d frames, %d passes)", copied, frames, passes)
	}
	if unsynced >= catchUpFrames {
		t.Fatalf("the pass under the writer lock had to flush the pages of %d frames copied before it (of %d)", unsynced, frames)
	}
	if syncsBeforeLock < 1 {
		t.Fatalf("the database file was not flushed before the lock was taken (%d flushes)", syncsBeforeLock)
	}
}

// posixLocks counts the POSIX locks this process holds on the file at path
// (/proc/locks).
func posixLocks(t *testing.T, path string) int {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		t.Skipf("no /proc/locks: %v", err)
	}
	n, pid, ino := 0, strconv.Itoa(os.Getpid()), ":"+strconv.FormatUint(st.Ino, 10)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[1] == "POSIX" && f[4] == pid && strings.HasSuffix(f[5], ino) {
			n++
		}
	}
	return n
}

// The checkpoint's and the compaction's flushes of the database file keep
// SQLite's lock on it. Closing any descriptor of a file drops all of the
// process's POSIX locks on it: a flush through a descriptor opened and
// closed for it left the server's connections unlocked, and a sqlite3
// shell backing the file up then saw itself its last user and deleted the
// WAL under the running server (acknowledged sales lost at the next crash).
func TestFlushKeepsTheLocks(t *testing.T) {
	s := openTest(t)
	stopBackgroundCheckpoints(s)
	for i := range 20 {
		if err := putMeta(s, i); err != nil {
			t.Fatal(err)
		}
	}
	before := posixLocks(t, s.path)
	if before == 0 {
		t.Fatal("no POSIX lock on the database file to begin with: the test sees nothing")
	}
	if err := s.syncDB(false); err != nil {
		t.Fatal(err)
	}
	if err := s.syncDB(true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after := posixLocks(t, s.path); after != before {
		t.Fatalf("POSIX locks on the database file: %d before the flushes, %d after", before, after)
	}
}

// A failed flush of the database file (an I/O error: the descriptor held
// cannot go stale) may have lost pages the checkpoint copied, which the WAL
// still holds: the store then refuses, as after a failed flush of the WAL,
// and nothing may empty the WAL any more: not the checkpoint, not a quiet
// spell's compaction (refused writes look quiet; and Linux reports a
// writeback error once per descriptor, so the next flush succeeds), not
// SQLite's checkpoint when Close closes its last connection.
func TestFailedDatabaseFlushBreaksTheStore(t *testing.T) {
	defer func(n int, b int64) { restartFrames, compactBytes = n, b }(restartFrames, compactBytes)
	restartFrames, compactBytes = 1, 1
	s := openTest(t)
	stopBackgroundCheckpoints(s)
	for i := range 50 {
		if err := putMeta(s, i); err != nil {
			t.Fatal(err)
		}
	}
	s.dbFile.Close() // the flush now fails (EBADF) as an I/O error would
	if err := s.syncDB(false); err == nil {
		t.Fatal("the flush of a closed descriptor succeeded")
	}
	if err := s.Ping(context.Background()); !errors.Is(err, ErrFlushFailed) {
		t.Fatalf("Ping after a failed flush of the database file: %v", err)
	}
	if err := putMeta(s, 51); !errors.Is(err, ErrFlushFailed) {
		t.Fatalf("a write after a failed flush of the database file: %v", err)
	}
	// The next flush would succeed (a fresh descriptor stands for that).
	f, err := os.Open(s.path)
	if err != nil {
		t.Fatal(err)
	}
	s.dbFile = f
	walSize := func() int64 {
		fi, err := os.Stat(s.path + "-wal")
		if err != nil {
			return -1
		}
		return fi.Size()
	}
	before := walSize()
	if before <= 0 {
		t.Fatalf("no WAL to keep (%d bytes)", before)
	}
	if _, _, err := s.checkpointOnce(context.Background()); err == nil {
		t.Error("a broken store's checkpoint ran")
	}
	var q quiet
	for range quietPolls + 2 {
		if s.compactIfQuiet(context.Background(), &q) {
			t.Error("a broken store compacted its WAL")
		}
	}
	if n := walSize(); n != before {
		t.Fatalf("a broken store's WAL went from %d to %d bytes", before, n)
	}
	if err := s.Close(); !errors.Is(err, ErrFlushFailed) {
		t.Errorf("Close of a broken store: %v", err)
	}
	if n := walSize(); n != before {
		t.Fatalf("Close of a broken store let SQLite checkpoint its WAL (%d bytes, then %d)", before, n)
	}
	// What Close left open goes now: its WAL buffer is in walBufs, which
	// the package's other tests look through.
	s.ckpt.db.Close()
	s.reader.Close()
	s.writer.Close()
	s.dbFile.Close()
}

// A flush that fails while Close runs (a write's, here; the checkpoint's
// likewise) breaks the store before Close decides what to close: Close
// waits for the flush and the checkpoint first, then keeps the WAL.
func TestBrokenDuringCloseKeepsTheWAL(t *testing.T) {
	s := openTest(t)
	if err := putMeta(s, 0); err != nil {
		t.Fatal(err)
	}
	gate, entered := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.dur.flushFn = func() error {
		once.Do(func() { close(entered) })
		<-gate
		return errors.New("input/output error")
	}
	werr := make(chan error, 1)
	go func() { werr <- putMeta(s, 1) }()
	<-entered
	cerr := make(chan error, 1)
	go func() { cerr <- s.Close() }()
	time.Sleep(300 * time.Millisecond) // Close is waiting for the flush by now
	close(gate)
	if err := <-werr; err == nil {
		t.Fatal("a write whose flush failed was acknowledged")
	}
	err := <-cerr
	if _, serr := os.Stat(s.path + "-wal"); os.IsNotExist(serr) || !errors.Is(err, ErrFlushFailed) {
		t.Fatalf("a store broken during Close: Close returned %v, WAL deleted: %v", err, os.IsNotExist(serr))
	}
	// Release what Close left open (walBufs is looked through by other tests).
	s.ckpt.db.Close()
	s.reader.Close()
	s.writer.Close()
	s.dbFile.Close()
}
