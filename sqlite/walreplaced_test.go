package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// The -wal alone removed, or replaced by another file, under a running
// store: SQLite goes on appending to the WAL it holds, unlinked, which no
// restart reads. On main (session 44) the write after the rm was
// acknowledged (flush found no WAL: nothing to flush). Now every write,
// and Ping, is refused, and what the held WAL had is copied into the
// database file.
func TestWALRemovedUnderTheStore(t *testing.T) {
	for _, how := range []string{"removed", "replaced"} {
		t.Run(how, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			path := filepath.Join(dir, "pm.db")
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Write(ctx, func(publicmask.Tx) error { return nil }); err != nil {
				t.Fatal(err)
			}
			switch how {
			case "removed":
				err = os.Remove(path + "-wal")
			case "replaced":
				other := filepath.Join(dir, "other-wal")
				if err = os.WriteFile(other, nil, 0o600); err == nil {
					err = os.Rename(other, path+"-wal")
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			err = s.Write(ctx, func(publicmask.Tx) error { return nil })
			if !errors.Is(err, ErrFileReplaced) || publicmask.ErrorCode(err) != publicmask.EStoreUnavailable {
				t.Errorf("a write after the -wal was %s: %v, want ErrFileReplaced and store_unavailable", how, err)
			}
			if err := s.Ping(ctx); !errors.Is(err, ErrWALReplaced) {
				t.Errorf("Ping after the -wal was %s: %v, want ErrWALReplaced", how, err)
			}
			for deadline := time.Now().Add(5 * time.Second); !s.WALSalvaged() && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			if !s.WALSalvaged() {
				t.Errorf("the held WAL was not copied into the database file after the -wal was %s", how)
			}
		})
	}
}

// Ping notices it alone, on a store that writes nothing.
func TestWALRemovedUnderAnIdleStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pm.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := os.Remove(path + "-wal"); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); !errors.Is(err, ErrWALReplaced) {
		t.Errorf("Ping after the -wal was removed: %v, want ErrWALReplaced", err)
	}
}

// The watch fires only while a descriptor still holds the old WAL: a WAL
// that SQLite itself let go of and made anew (its last connection closed)
// is adopted, and the flush's own descriptor does not count.
func TestWALWatchAdoptsAWALNoOneHolds(t *testing.T) {
	dir := t.TempDir()
	wal := filepath.Join(dir, "pm.db-wal")
	if err := os.WriteFile(wal, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w := newWALWatch(wal)
	if err := w.check(); err != nil {
		t.Fatal(err)
	}
	held, err := os.Open(wal) // SQLite's descriptor, say
	if err != nil {
		t.Fatal(err)
	}
	own, err := os.Open(wal) // the flush's
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	w.ownFD.Store(int64(own.Fd()))
	os.Remove(wal)
	if err := w.check(); !errors.Is(err, ErrWALReplaced) {
		t.Errorf("the -wal removed while a descriptor holds it: %v, want ErrWALReplaced", err)
	}
	held.Close() // SQLite let go of it
	if err := os.WriteFile(wal, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.check(); err != nil {
		t.Errorf("a new -wal once no one but the flush holds the old one: %v, want it adopted", err)
	}
	if err := w.check(); err != nil {
		t.Errorf("the adopted -wal, checked again: %v", err)
	}
}
