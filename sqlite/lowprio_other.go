//go:build !linux

package sqlite

// atLowPriority runs f (at the normal priority: per-thread priority is
// set on Linux only).
func atLowPriority(f func()) { f() }
