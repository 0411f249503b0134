// Package fsx holds the file-system steps that durability needs and the
// standard library leaves to the caller.
package fsx

import "os"

// SyncDir flushes a directory, so that the names created, renamed or
// removed in it survive a power cut (a file's own fsync does not cover its
// name).
func SyncDir(dir string) error { return SyncFile(dir) }

// SyncFile flushes the file at path (data and metadata) through a
// descriptor opened for it. Not for a file that a database in this process
// holds POSIX locks on: closing any descriptor of a file drops all of the
// process's locks on it.
func SyncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
