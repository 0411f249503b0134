//go:build !unix

package sqlite

import "errors"

// Without mmap the page blocks stay with SQLite's allocator.
func reserve(int) ([]byte, error) {
	return nil, errors.New("sqlite: no address space reservation here")
}

func commit([]byte) error { return errors.New("sqlite: no address space reservation here") }
