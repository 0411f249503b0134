package snapshot

import "unsafe"

// rebase returns the part of to at the offset where sub lies in from, if
// sub is a substring (by memory, not by value) of from and to is from's
// copy; otherwise sub itself.
func rebase(sub, from, to string) string {
	if sub == "" || len(from) != len(to) || from == "" {
		return sub
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(sub)))
	base := uintptr(unsafe.Pointer(unsafe.StringData(from)))
	if p < base || p+uintptr(len(sub)) > base+uintptr(len(from)) {
		return sub
	}
	off := int(p - base)
	return to[off : off+len(sub)]
}
