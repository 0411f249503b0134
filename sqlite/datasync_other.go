//go:build !linux

package sqlite

import "os"

// datasync flushes f (fsync where fdatasync is not at hand).
func datasync(f *os.File) error { return f.Sync() }

// uring is Linux's (uring_linux.go); elsewhere there is none.
type uring struct{}

func newURing() *uring               { return nil }
func (*uring) datasync(fd int) error { return errRingGone }
func (*uring) close()                {}
