package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "pm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func putMeta(s *Store, i int) error {
	return s.Write(context.Background(), func(tx publicmask.Tx) error {
		return tx.PutPersonWeek(publicmask.PersonWeek{Person: "p" + string(rune('a'+i%26)) + time.Now().String(), Week: "2020-03-09", Usage: publicmask.Usage{Quantity: 1}})
	})
}

// wait(seq) returns only after a flush that started after commit seq was
// counted; many concurrent commits share flushes.
func TestWaitNeedsAFlushAfterTheCommit(t *testing.T) {
	d := newDurability(filepath.Join(t.TempDir(), "x.db"))
	var mu sync.Mutex
	flushedUpTo := uint64(0)
	d.flushFn = func() error {
		target := d.committed.Load() // what this flush can vouch for
		time.Sleep(time.Millisecond)
		mu.Lock()
		flushedUpTo = max(flushedUpTo, target)
		mu.Unlock()
		return nil
	}
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				seq := d.committedOne()
				if err := d.wait(seq); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				covered := flushedUpTo
				mu.Unlock()
				if covered < seq {
					t.Errorf("wait(%d) returned with flushes covering only %d", seq, covered)
					return
				}
			}
		}()
	}
	wg.Wait()
	if f := d.flushes.Load(); f >= writers*each {
		t.Fatalf("%d flushes for %d commits: flushes are not shared", f, writers*each)
	}
	t.Logf("%d commits, %d flushes", writers*each, d.flushes.Load())
}

// After a failed flush nothing more is acknowledged and the store reports
// itself unavailable (restart to recover from the log).
func TestFailedFlushStopsAcknowledging(t *testing.T) {
	s := openTest(t)
	if err := putMeta(s, 0); err != nil {
		t.Fatal(err)
	}
	s.dur.flushFn = func() error { return errors.New("EIO") }
	if err := putMeta(s, 1); publicmask.ErrorCode(err) != publicmask.EStoreUnavailable {
		t.Fatalf("write after a failed flush: %v", err)
	}
	s.dur.flushFn = func() error { return nil } // a later flush may succeed, but cannot vouch for the lost pages
	if err := putMeta(s, 2); publicmask.ErrorCode(err) != publicmask.EStoreUnavailable {
		t.Fatalf("write after recovery of the disk: %v", err)
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Fatal("Ping ok after a failed flush")
	}
}

// The real flush finds and syncs the WAL file.
func TestRealFlush(t *testing.T) {
	s := openTest(t)
	if err := putMeta(s, 0); err != nil {
		t.Fatal(err)
	}
	if s.dur.flushes.Load() == 0 || s.dur.walIno == 0 {
		t.Fatalf("no flush of the WAL file (flushes %d, inode %d)", s.dur.flushes.Load(), s.dur.walIno)
	}
}

// The flush keeps the WAL file open between flushes, but follows the name:
// a WAL that SQLite removed and created again is the one flushed next
// (and its directory entry with it), and a removed one is let go.
func TestFlushFollowsARecreatedWAL(t *testing.T) {
	d := newDurability(filepath.Join(t.TempDir(), "pm.db"))
	t.Cleanup(d.close)
	ino := func() uint64 {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Stat(d.wal, &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	if err := d.flush(); err != nil || d.f != nil {
		t.Fatalf("flush without a WAL: %v, file held %v", err, d.f != nil)
	}
	if err := os.WriteFile(d.wal, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	first := ino()
	for range 2 {
		if err := d.flush(); err != nil {
			t.Fatal(err)
		}
		if d.f == nil || d.fileIno != first || d.walIno != first {
			t.Fatalf("flushed inode %d (directory entry of %d), want %d", d.fileIno, d.walIno, first)
		}
	}
	held := d.f
	// Another file first takes the old inode's place in the directory
	// listing, so that the new WAL cannot get the old inode back.
	if err := os.WriteFile(d.wal+"-other", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(d.wal); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.wal, []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	second := ino()
	if second == first {
		t.Skip("the file system gave the new WAL the old inode")
	}
	if err := d.flush(); err != nil {
		t.Fatal(err)
	}
	if d.f == held || d.fileIno != second || d.walIno != second {
		t.Fatalf("after the WAL was recreated: flushed inode %d (directory entry of %d), want %d", d.fileIno, d.walIno, second)
	}
	if err := os.Remove(d.wal); err != nil {
		t.Fatal(err)
	}
	if err := d.flush(); err != nil || d.f != nil || d.walIno != 0 {
		t.Fatalf("flush of a removed WAL: %v, file held %v, directory entry of %d noted", err, d.f != nil, d.walIno)
	}
}

// TestFlushAfterCloseLetsGo: a write that committed before Store.Close but
// waits for its flush after it still gets its flush, and the file that
// flush opens is not left open.
func TestFlushAfterCloseLetsGo(t *testing.T) {
	d := newDurability(filepath.Join(t.TempDir(), "pm.db"))
	if err := os.WriteFile(d.wal, []byte("frames"), 0o600); err != nil {
		t.Fatal(err)
	}
	seq := d.committedOne()
	d.close()
	if err := d.wait(seq); err != nil {
		t.Fatal(err)
	}
	if d.flushes.Load() != 1 {
		t.Fatalf("%d flushes, want 1", d.flushes.Load())
	}
	if d.f != nil {
		t.Fatal("the WAL file opened by a flush after close is still held")
	}
}
