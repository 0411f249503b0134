package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Where the kernel has io_uring, the WAL's flush goes through it, not
// through a blocking fdatasync.
func TestFlushThroughTheRing(t *testing.T) {
	if r := newURing(); r == nil {
		t.Skip("no io_uring here")
	} else {
		r.close()
	}
	s := openTest(t)
	for i := range 3 {
		if err := putMeta(s, i); err != nil {
			t.Fatal(err)
		}
	}
	if n, used := s.dur.flushes.Load(), s.dur.ring.used.Load(); n == 0 || used != n {
		t.Fatalf("%d flushes, %d through the ring", n, used)
	}
	if err := s.syncDB(false); err != nil {
		t.Fatal(err)
	}
	if used := s.dbRing.used.Load(); used != 1 {
		t.Fatalf("the database file's flush: %d through the ring, want 1", used)
	}
}

// The ring's flush reports fdatasync's errors: EINVAL for a descriptor
// that cannot be synced, EBADF for a closed one; and a good one returns
// nil, over and over (the ring's heads keep in step).
func TestRingDatasyncErrors(t *testing.T) {
	r := newURing()
	if r == nil {
		t.Skip("no io_uring here")
	}
	defer r.close()
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range 10 {
		if _, err := f.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := r.datasync(int(f.Fd())); err != nil {
			t.Fatalf("flush %d: %v", i, err)
		}
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	want := syscall.Fdatasync(int(pw.Fd()))
	if got := r.datasync(int(pw.Fd())); !errors.Is(got, want) || want == nil {
		t.Fatalf("ring on a pipe: %v, fdatasync: %v", got, want)
	}
	if got := r.datasync(1 << 20); !errors.Is(got, syscall.EBADF) {
		t.Fatalf("ring on a closed descriptor: %v", got)
	}
	if err := r.datasync(int(f.Fd())); err != nil {
		t.Fatalf("after the errors: %v", err)
	}
}

// Flushes from several goroutines at once take the ring in turn, each
// with its own completion.
func TestRingFlushesConcurrently(t *testing.T) {
	r := newURing()
	if r == nil {
		t.Skip("no io_uring here")
	}
	defer r.close()
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if ctx.Err() != nil {
					return
				}
				f.Write([]byte("y"))
				if err := r.datasync(int(f.Fd())); err != nil {
					t.Error(err)
					return
				}
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
}
