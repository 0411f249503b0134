package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/sqlite"
)

// A file put in place of the store's (a restore under the running node),
// or the file moved away: the store would go on writing to the file it
// opened, which the next start does not read. Ping and every write say
// so, and no write is acknowledged from then on.
func TestFileReplacedUnderTheStore(t *testing.T) {
	for _, how := range []string{"replaced", "removed"} {
		t.Run(how, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			path := filepath.Join(dir, "pm.db")
			s, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Write(ctx, func(publicmask.Tx) error { return nil }); err != nil {
				t.Fatal(err)
			}
			if err := s.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			switch how {
			case "replaced":
				other := filepath.Join(dir, "other.db")
				if err := os.WriteFile(other, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(other, path); err != nil {
					t.Fatal(err)
				}
			case "removed":
				if err := os.Rename(path, path+".old"); err != nil {
					t.Fatal(err)
				}
			}
			err = s.Write(ctx, func(publicmask.Tx) error { return nil })
			if !errors.Is(err, sqlite.ErrFileReplaced) || publicmask.ErrorCode(err) != publicmask.EStoreUnavailable {
				t.Errorf("a write after the file was %s: %v, want ErrFileReplaced and store_unavailable", how, err)
			}
			if err := s.Ping(ctx); !errors.Is(err, sqlite.ErrFileReplaced) {
				t.Errorf("Ping after the file was %s: %v, want ErrFileReplaced", how, err)
			}
		})
	}
}

// Ping notices it alone, on a store that writes nothing.
func TestFileReplacedUnderAnIdleStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pm.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); !errors.Is(err, sqlite.ErrFileReplaced) {
		t.Errorf("Ping after the file moved away: %v, want ErrFileReplaced", err)
	}
	if err := s.Write(ctx, func(publicmask.Tx) error { return nil }); !errors.Is(err, sqlite.ErrFileReplaced) {
		t.Errorf("a write after Ping saw the file moved away: %v, want ErrFileReplaced", err)
	}
}
