//go:build !linux

package sqlite

import "os"

// datasync flushes f (fsync where fdatasync is not at hand).
func datasync(f *os.File) error { return f.Sync() }

// startWriteback does nothing where sync_file_range(2) is not at hand: the
// flush that follows writes everything.
func startWriteback(*os.File) error { return nil }
