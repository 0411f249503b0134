package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func storeWALSize(t *testing.T, s *Store) int64 {
	t.Helper()
	fi, err := os.Stat(s.dur.wal)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// fillWAL commits until the WAL file holds at least n bytes.
func fillWAL(t *testing.T, s *Store, n int64) {
	t.Helper()
	for i := 0; ; i++ {
		if err := putMeta(s, i); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 && storeWALSize(t, s) >= n {
			return
		}
	}
}

// openFilledWAL opens a store with its background checkpoints stopped and
// a WAL of compactBytes, lowered to 1 MiB for the test.
func openFilledWAL(t *testing.T) *Store {
	t.Helper()
	old := compactBytes
	t.Cleanup(func() { compactBytes = old })
	compactBytes = 1 << 20
	s := openTest(t)
	stopBackgroundCheckpoints(s)
	fillWAL(t, s, compactBytes)
	return s
}

// After a bulk write, once no commit has come for a poll, the WAL is
// copied into the database file and truncated: nothing of the load is
// left for the next writes to wait behind. Not while commits arrive, not
// twice for the same commits, not for a short WAL.
func TestQuietWriterGetsACompaction(t *testing.T) {
	s := openFilledWAL(t)
	ctx := context.Background()
	var q quiet
	for i := range quietPolls {
		if s.compactIfQuiet(ctx, &q) || storeWALSize(t, s) < compactBytes {
			t.Fatalf("poll %d: compacted before the writer was quiet for %d polls (WAL %d bytes)", i, quietPolls, storeWALSize(t, s))
		}
	}
	if !s.compactIfQuiet(ctx, &q) {
		t.Fatal("a quiet writer with a long WAL got no compaction")
	}
	if n := storeWALSize(t, s); n != 0 {
		t.Fatalf("WAL %d bytes after the compaction", n)
	}
	if s.compactIfQuiet(ctx, &q) {
		t.Fatal("compacted again with nothing committed since")
	}
	for i := range 20 {
		if err := putMeta(s, i); err != nil {
			t.Fatal(err)
		}
	}
	for range quietPolls + 1 { // the first sees the commits
		if s.compactIfQuiet(ctx, &q) {
			t.Fatalf("compacted a WAL of %d bytes (< %d)", storeWALSize(t, s), compactBytes)
		}
	}
	// The store goes on: what was written before and after is there.
	var n int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM person_weeks`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("person_weeks after the compaction: %d, %v", n, err)
	}
}

// The pass under the writer lock waits for a reader still on the WAL only
// compactWait, not the connections' 10 s busy timeout: the writer (every
// sale) would wait as long. Once the reader is gone, it truncates.
func TestCompactionDoesNotWaitOutAReader(t *testing.T) {
	s := openFilledWAL(t)
	ctx := context.Background()
	rtx := holdReader(t, s)
	t0 := time.Now()
	ok, held, err := s.compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Fatal("truncated the WAL under an open reader")
	}
	if el := time.Since(t0); held > time.Second || el > 2*time.Second {
		t.Fatalf("the compaction waited for the reader: held the writer %v, took %v", held, el)
	}
	rtx.Rollback()
	if ok, _, err := s.compact(ctx); err != nil || !ok {
		t.Fatalf("no compaction once the reader ended: %v, %v", ok, err)
	}
	if n := storeWALSize(t, s); n != 0 {
		t.Fatalf("WAL %d bytes after the compaction", n)
	}
}

// After a compaction the database file alone holds every commit: a copy
// of it without the WAL opens with all the rows. (Whether a power cut
// could undo the database file's pages is SQLite's checkpoint, which
// flushes the file before the WAL may be truncated; a test of it on the
// powerloss FUSE file system cannot run in process: SQLite's mmap'd -shm
// there page-faults into the FUSE server of the same process, and a GC
// stop-the-world waiting for the faulting thread deadlocked the test.)
func TestCompactionLeavesTheDatabaseFileWhole(t *testing.T) {
	s := openFilledWAL(t)
	ctx := context.Background()
	var want int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM person_weeks`).Scan(&want); err != nil || want == 0 {
		t.Fatalf("person_weeks: %d, %v", want, err)
	}
	ok, held, err := s.compact(ctx)
	if err != nil || !ok {
		t.Fatalf("compaction: %v, %v", ok, err)
	}
	t.Logf("the pass under the writer lock held it %v", held)
	if n := storeWALSize(t, s); n != 0 {
		t.Fatalf("WAL %d bytes after the compaction", n)
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(cp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+cp+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM person_weeks`).Scan(&got); err != nil || got != want {
		t.Fatalf("the database file alone holds %d person-weeks of %d (%v)", got, want, err)
	}
}

// A compaction that a reader defers is tried once per quiet spell, not at
// every poll: each try takes the writer lock.
func TestCompactionTriesOncePerQuietSpell(t *testing.T) {
	s := openFilledWAL(t)
	ctx := context.Background()
	rtx := holdReader(t, s)
	defer rtx.Rollback()
	var q quiet
	for range quietPolls + 1 {
		if s.compactIfQuiet(ctx, &q) {
			t.Fatal("truncated the WAL under an open reader")
		}
	}
	if q.tried != s.dur.committed.Load() {
		t.Fatal("no compaction was tried in the quiet spell")
	}
	// More polls of the same spell must not take the writer lock again.
	s.writeMu.Lock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 * quietPolls {
			s.compactIfQuiet(ctx, &q)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.writeMu.Unlock()
		<-done
		t.Fatal("a second try in the same quiet spell waited for the writer lock")
	}
	s.writeMu.Unlock()
	rtx.Rollback()
	putMeta(s, 1) // a new spell
	for range quietPolls + 1 {
		s.compactIfQuiet(ctx, &q)
	}
	if n := storeWALSize(t, s); n != 0 {
		t.Fatalf("after new commits and a quiet spell the WAL holds %d bytes", n)
	}
}

// holdReader begins a read that keeps its snapshot of the WAL, then commits
// once more, so that the reader's snapshot is no longer the latest and a
// checkpoint cannot copy past it until the read ends.
func holdReader(t *testing.T, s *Store) *sql.Tx {
	t.Helper()
	rtx, err := s.reader.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRow(`SELECT count(*) FROM person_weeks`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := putMeta(s, 0); err != nil {
		t.Fatal(err)
	}
	return rtx
}
