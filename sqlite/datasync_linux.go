package sqlite

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// datasync flushes f's data and the metadata needed to read it back
// (fdatasync(2)).
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

// startWriteback asks the kernel to begin writing f's dirty pages to the
// disk and returns without waiting (sync_file_range(2) with
// SYNC_FILE_RANGE_WRITE only). It is a hint: it makes nothing durable, and
// without a WAIT flag it does not consume a writeback error the next
// fdatasync of the same descriptor must report.
func startWriteback(f *os.File) error {
	for {
		err := unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
		if err != unix.EINTR {
			if err != nil {
				return &os.PathError{Op: "sync_file_range", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
