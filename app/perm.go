package app

import (
	"fmt"
	"os"
)

// checkPrivate refuses a secret or token file that another user may read
// or change. Group bits count unless they are a POSIX ACL's mask: systemd
// hands a service its LoadCredential= files as 0400, root-owned, with an
// ACL entry that lets the service's own user read them (where the file
// system has ACLs: the tmpfs of newer systemd), and stat then shows the
// mask as group bits (mode 0440) although no group may read. Such a file
// is accepted when no group and no other user is granted anything.
func checkPrivate(what, path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return nil // read errors are reported by the caller's read
	}
	perm := info.Mode().Perm()
	if perm&0o077 == 0 {
		return nil
	}
	if perm&0o007 == 0 && aclPrivate(path, uint32(perm>>3&7)) {
		return nil
	}
	return fmt.Errorf("%s %s is readable by others (mode %v): chmod 600 it", what, path, perm)
}
