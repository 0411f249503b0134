//go:build unix

package sqlite

import "syscall"

// reserve maps n bytes of address space without access: nothing is
// committed or counted against the system's memory until commit.
func reserve(n int) ([]byte, error) {
	return syscall.Mmap(-1, 0, n, syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
}

// commit makes b, part of a reservation, read-write; its pages are
// taken as they are first written.
func commit(b []byte) error { return syscall.Mprotect(b, syscall.PROT_READ|syscall.PROT_WRITE) }
