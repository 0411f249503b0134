// Package fsx holds the file-system steps that durability needs and the
// standard library leaves to the caller.
package fsx

import "os"

// SyncDir flushes a directory, so that the names created, renamed or
// removed in it survive a power cut (a file's own fsync does not cover its
// name).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
