package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/publicmask/publicmask"
)

// putSpread commits commits transactions of rows person-weeks each, spread
// over the key space (many pages a commit, some adjacent), and returns how
// many it put.
func putSpread(t *testing.T, s *Store, commits, rows int, tag string) int {
	t.Helper()
	for c := range commits {
		err := s.Write(context.Background(), func(tx publicmask.Tx) error {
			for i := range rows {
				pw := publicmask.PersonWeek{Person: fmt.Sprintf("%08x-%s%d", uint32(i*2654435761+c*40503), tag, c), Week: "2020-03-09", Usage: publicmask.Usage{Quantity: 1}}
				if err := tx.PutPersonWeek(pw); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return commits * rows
}

// countCopy opens a copy of the files a store left (copyFiles: the
// database and its WAL, not the WAL index, as after a kill -9 the next
// process rebuilds it) and returns its person-weeks after an integrity
// check.
func countCopy(t *testing.T, path string) int {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ok string
	if err := s.reader.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("%s: integrity_check %q, %v", path, ok, err)
	}
	var n int
	if err := s.reader.QueryRow(`SELECT COUNT(*) FROM person_weeks`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A checkpoint writes the database file in runs of adjacent pages, fewer
// writes than pages, reads the WAL in fewer reads than frames (read
// ahead), and the file it leaves holds every commit without the
// WAL. Killed at any gathered run before it is written, or at the one
// CKPT_DONE writes, the files left (the WAL still whole) open with every
// commit.
func TestCheckpointWritesRunsAndSurvivesAKill(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, filepath.Join(dir, "pm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stopBackgroundCheckpoints(s)
	want := putSpread(t, s, 40, 200, "a")
	if _, _, err := s.checkpointOnce(ctx); err != nil {
		t.Fatal(err)
	}
	// Rows among the first ones: leaf pages all over the file.
	want += putSpread(t, s, 20, 30, "b")
	var kills []string
	var midLoop, atDone int
	ckptRunHook = func(done bool, off int64, n int) int32 {
		if done {
			atDone++
		} else {
			midLoop++
		}
		if done || midLoop == 5 {
			// What a kill -9 leaves now: some runs written, this one not.
			to := filepath.Join(dir, fmt.Sprintf("kill%d.db", len(kills)))
			copyFiles(t, s.path, to)
			kills = append(kills, to)
		}
		return sqlite3.SQLITE_OK
	}
	defer func() { ckptRunHook = nil }()
	pages0, runs0 := ckptPageWrites.Load(), ckptRunWrites.Load()
	reads0, fileReads0 := ckptWALReads.Load(), ckptWALFileReads.Load()
	frames, copied, err := s.checkpointOnce(ctx)
	ckptRunHook = nil
	if err != nil || copied != frames || frames == 0 {
		t.Fatalf("checkpoint: %d of %d frames copied, %v", copied, frames, err)
	}
	pages, runs := ckptPageWrites.Load()-pages0, ckptRunWrites.Load()-runs0
	t.Logf("%d frames: %d page writes gathered into %d writes (%d mid-loop, %d at CKPT_DONE)", frames, pages, runs, midLoop, atDone)
	if pages == 0 || runs >= pages || runs != int64(midLoop+atDone) || atDone != 1 {
		t.Fatalf("%d page writes reached the file in %d writes (%d mid-loop, %d at CKPT_DONE): not gathered", pages, runs, midLoop, atDone)
	}
	reads, fileReads := ckptWALReads.Load()-reads0, ckptWALFileReads.Load()-fileReads0
	t.Logf("%d frame reads of the WAL, %d reached the file", reads, fileReads)
	if reads != pages || fileReads >= reads {
		t.Fatalf("%d frame reads of the WAL for %d pages, %d reached the file: not read ahead", reads, pages, fileReads)
	}
	if len(kills) != 2 {
		t.Fatalf("%d copies taken, want 2 (the checkpoint wrote %d runs)", len(kills), runs)
	}
	for _, k := range kills {
		if n := countCopy(t, k); n != want {
			t.Fatalf("killed mid-checkpoint (%s): %d person-weeks, want %d", filepath.Base(k), n, want)
		}
	}
	// The database file alone, the WAL left behind, holds every commit.
	b, err := os.ReadFile(s.path)
	if err != nil {
		t.Fatal(err)
	}
	alone := filepath.Join(dir, "alone.db")
	if err := os.WriteFile(alone, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if n := countCopy(t, alone); n != want {
		t.Fatalf("the database file after the checkpoint: %d person-weeks, want %d", n, want)
	}
}

// A write of a gathered run that fails mid-loop fails that pass only: the
// next one copies everything. One that fails at CKPT_DONE (whose result
// SQLite ignores) breaks the store: no write is acknowledged after it, no
// later checkpoint completes, and the files keep every commit.
func TestFailedCheckpointWrite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, filepath.Join(dir, "pm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stopBackgroundCheckpoints(s)
	want := putSpread(t, s, 40, 200, "a")
	if _, _, err := s.checkpointOnce(ctx); err != nil {
		t.Fatal(err)
	}
	want += putSpread(t, s, 20, 30, "b")
	defer func() { ckptRunHook = nil }()
	ckptRunHook = func(done bool, off int64, n int) int32 {
		if !done {
			return sqlite3.SQLITE_IOERR_WRITE
		}
		return sqlite3.SQLITE_OK
	}
	if _, _, err := s.checkpointOnce(ctx); err == nil {
		t.Fatal("a checkpoint whose mid-loop write failed succeeded")
	}
	if err := s.dur.err(); err != nil {
		t.Fatalf("a failed mid-loop write broke the store: %v", err)
	}
	ckptRunHook = nil
	if frames, copied, err := s.checkpointOnce(ctx); err != nil || copied != frames {
		t.Fatalf("the next checkpoint: %d of %d frames, %v", copied, frames, err)
	}

	want += putSpread(t, s, 20, 30, "c")
	ckptRunHook = func(done bool, off int64, n int) int32 {
		if done {
			return sqlite3.SQLITE_IOERR_WRITE
		}
		return sqlite3.SQLITE_OK
	}
	s.checkpointOnce(ctx)
	ckptRunHook = nil
	if err := s.dur.err(); err == nil {
		t.Fatal("a failed write at CKPT_DONE left the store healthy")
	}
	if err := putMeta(s, 1); err == nil {
		t.Fatal("a write was acknowledged after a checkpoint lost pages")
	}
	if _, _, err := s.checkpointOnce(ctx); err == nil {
		t.Fatal("a checkpoint succeeded after one lost pages")
	}
	copyFiles(t, s.path, filepath.Join(dir, "after.db"))
	if n := countCopy(t, filepath.Join(dir, "after.db")); n != want {
		t.Fatalf("after the failed write: %d person-weeks, want %d", n, want)
	}
}

// A read through the checkpointer's database file sees a page written in
// the checkpoint and not yet in the file (the run is written first).
func TestReadSeesGatheredPage(t *testing.T) {
	if err := registerCkptVFS(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "r.db")
	c, err := openWConn(path, ckptVFSName, []string{"page_size(2048)", "journal_mode(WAL)"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	for _, q := range []string{`CREATE TABLE t(x)`, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 40) INSERT INTO t SELECT randomblob(500) FROM n`, `PRAGMA wal_checkpoint(TRUNCATE)`} {
		if err := c.execOnce(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	*(*uintptr)(cptr(c.cell)) = 0
	if rc := sqlite3.Xsqlite3_file_control(c.tls, c.db, 0, sqlite3.SQLITE_FCNTL_FILE_POINTER, c.cell); rc != sqlite3.SQLITE_OK {
		t.Fatal(c.errorOf(rc))
	}
	pFile := *(*uintptr)(cptr(c.cell))
	if _, ok := ckptFiles.Load(pFile); !ok {
		t.Fatal("the database file is not opened through ckptVFS")
	}
	const page, off = 2048, 4 * 2048 // page 5 and 6: a run of two
	cbuf := libc.Xmalloc(c.tls, 2*page)
	defer libc.Xfree(c.tls, cbuf)
	mem := unsafe.Slice((*byte)(cptr(cbuf)), 2*page)
	old, err := os.ReadFile(path)
	if err != nil || len(old) < off+2*page {
		t.Fatalf("database file %d bytes, %v", len(old), err)
	}
	ckptFileControl(c.tls, pFile, sqlite3.SQLITE_FCNTL_CKPT_START, 0)
	for i := range 2 {
		for j := range page {
			mem[j] = byte(i + 1)
		}
		if rc := ckptWrite(c.tls, pFile, cbuf, page, int64(off+i*page)); rc != sqlite3.SQLITE_OK {
			t.Fatalf("write: %d", rc)
		}
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, old) {
		t.Fatal("the pages reached the file before the run ended: not gathered")
	}
	if rc := ckptRead(c.tls, pFile, cbuf, 2*page, off); rc != sqlite3.SQLITE_OK {
		t.Fatalf("read: %d", rc)
	}
	if mem[0] != 1 || mem[page-1] != 1 || mem[page] != 2 || mem[2*page-1] != 2 {
		t.Fatalf("a read during the checkpoint saw %d…%d, %d…%d, not the pages written", mem[0], mem[page-1], mem[page], mem[2*page-1])
	}
	ckptFileControl(c.tls, pFile, sqlite3.SQLITE_FCNTL_CKPT_DONE, 0)
	now, _ := os.ReadFile(path)
	if now[off] != 1 || now[off+2*page-1] != 2 {
		t.Fatal("the pages are not in the file after CKPT_DONE")
	}
}

// The checkpoint's WAL read-ahead serves only reads of the checkpoint that
// filled it: after CKPT_DONE (a read of the connection's own) and in the
// next checkpoint (the WAL may have restarted meanwhile, new frames at the
// same offsets) the file is read again.
func TestWALReadAheadDroppedBetweenCheckpoints(t *testing.T) {
	if err := registerCkptVFS(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "r.db")
	c, err := openWConn(path, ckptVFSName, []string{"page_size(2048)", "journal_mode(WAL)", "wal_autocheckpoint(0)"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	for _, q := range []string{`CREATE TABLE t(x)`, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 40) INSERT INTO t SELECT randomblob(500) FROM n`} {
		if err := c.execOnce(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	pointer := func(op int32) uintptr {
		*(*uintptr)(cptr(c.cell)) = 0
		if rc := sqlite3.Xsqlite3_file_control(c.tls, c.db, 0, op, c.cell); rc != sqlite3.SQLITE_OK {
			t.Fatal(c.errorOf(rc))
		}
		return *(*uintptr)(cptr(c.cell))
	}
	dbFile, walFile := pointer(sqlite3.SQLITE_FCNTL_FILE_POINTER), pointer(sqlite3.SQLITE_FCNTL_JOURNAL_POINTER)
	if _, ok := ckptWALs.Load(walFile); !ok {
		t.Fatal("the WAL is not opened through ckptVFS")
	}
	const page = 2048
	frame0, frame1 := int64(32+24), int64(32+24+page+24) // the first two frames' pages
	cbuf := libc.Xmalloc(c.tls, page)
	defer libc.Xfree(c.tls, cbuf)
	mem := unsafe.Slice((*byte)(cptr(cbuf)), page)
	wal, err := os.OpenFile(path+"-wal", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer wal.Close()
	read := func(off int64) byte {
		t.Helper()
		if rc := ckptWALRead(c.tls, walFile, cbuf, page, off); rc != sqlite3.SQLITE_OK {
			t.Fatalf("read: %d", rc)
		}
		return mem[0]
	}
	overwrite := func(off int64, b byte) {
		t.Helper()
		if _, err := wal.WriteAt(bytes.Repeat([]byte{b}, page), off); err != nil {
			t.Fatal(err)
		}
	}
	reads0 := ckptWALFileReads.Load()
	ckptFileControl(c.tls, dbFile, sqlite3.SQLITE_FCNTL_CKPT_START, 0)
	read(frame0) // fills the window with the next frames too
	overwrite(frame1, 0xa1)
	read(frame1)
	if n := ckptWALFileReads.Load() - reads0; n != 1 {
		t.Fatalf("two frames read in a checkpoint with %d reads of the file: not read ahead", n)
	}
	ckptFileControl(c.tls, dbFile, sqlite3.SQLITE_FCNTL_CKPT_DONE, 0)
	if b := read(frame1); b != 0xa1 {
		t.Fatalf("a read after CKPT_DONE saw %#x, not the file's 0xa1", b)
	}
	ckptFileControl(c.tls, dbFile, sqlite3.SQLITE_FCNTL_CKPT_START, 0)
	read(frame0)
	overwrite(frame1, 0xb2)
	ckptFileControl(c.tls, dbFile, sqlite3.SQLITE_FCNTL_CKPT_DONE, 0)
	ckptFileControl(c.tls, dbFile, sqlite3.SQLITE_FCNTL_CKPT_START, 0)
	if b := read(frame1); b != 0xb2 {
		t.Fatalf("the next checkpoint read %#x from an earlier one's window, not the file's 0xb2", b)
	}
	// The last frame: its window reaches past the file's end (a short
	// read), so the frame is read alone.
	fi, err := wal.Stat()
	if err != nil {
		t.Fatal(err)
	}
	last := fi.Size() - page
	overwrite(last, 0xc3)
	if b := read(last); b != 0xc3 || mem[page-1] != 0xc3 {
		t.Fatalf("the WAL's last frame read as %#x…%#x, not the file's 0xc3", b, mem[page-1])
	}
	ckptFileControl(c.tls, dbFile, sqlite3.SQLITE_FCNTL_CKPT_DONE, 0)
}
