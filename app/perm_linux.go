package app

import (
	"encoding/binary"
	"os"
	"syscall"
)

// POSIX ACL entries as Linux stores them in system.posix_acl_access
// (include/uapi/linux/posix_acl_xattr.h).
const (
	aclVersion  = 2
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclGroup    = 0x08
)

// aclPrivate reports whether path has an access ACL that grants nothing to
// its owning group, to any named group or to any named user but this
// process's, within mask (the ACL's mask, shown as the group bits).
func aclPrivate(path string, mask uint32) bool {
	buf := make([]byte, 1024)
	n, err := syscall.Getxattr(path, "system.posix_acl_access", buf)
	if err != nil || n < 4 || (n-4)%8 != 0 || binary.LittleEndian.Uint32(buf) != aclVersion {
		return false // no ACL: the group bits are the group's
	}
	me := uint32(os.Geteuid())
	for e := buf[4:n]; len(e) >= 8; e = e[8:] {
		tag, perm, id := binary.LittleEndian.Uint16(e), uint32(binary.LittleEndian.Uint16(e[2:])), binary.LittleEndian.Uint32(e[4:])
		if perm&mask == 0 {
			continue
		}
		switch tag {
		case aclGroupObj, aclGroup:
			return false
		case aclUser:
			if id != me && id != 0 { // root reads anything anyway
				return false
			}
		}
	}
	return true
}
