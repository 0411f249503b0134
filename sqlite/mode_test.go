package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/publicmask/publicmask/sqlite"
)

// The database and its WAL are created readable by the owner only, whatever
// the umask: they hold person keys.
func TestDatabaseFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "pm.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, p := range []string{path, path + "-wal"} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), perm)
		}
	}
}

// A backup put in place keeps the mode its umask gave it (VACUUM INTO:
// 0644): the store's files are made 0600 when it is opened, so that the
// WAL SQLite creates with the database file's mode is private too.
func TestARestoredFileIsMadePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "pm.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetMeta(context.Background(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %v after a 0644 database was opened, want 0600", filepath.Base(p), perm)
		}
	}
	if len(s.MadePrivate()) != 1 {
		t.Errorf("MadePrivate: %q, want the database file", s.MadePrivate())
	}
}
