//go:build !linux

package app

// aclPrivate: ACLs are read on Linux only; elsewhere group bits count.
func aclPrivate(path string, mask uint32) bool { return false }
