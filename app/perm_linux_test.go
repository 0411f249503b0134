package app

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// setACL gives path the access ACL entries (tag, perm, id).
func setACL(t *testing.T, path string, entries [][3]uint32) {
	t.Helper()
	b := binary.LittleEndian.AppendUint32(nil, aclVersion)
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint16(b, uint16(e[0]))
		b = binary.LittleEndian.AppendUint16(b, uint16(e[1]))
		b = binary.LittleEndian.AppendUint32(b, e[2])
	}
	if err := syscall.Setxattr(path, "system.posix_acl_access", b, 0); err != nil {
		if errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP) {
			t.Skipf("no ACLs on %s: %v", filepath.Dir(path), err)
		}
		t.Fatal(err)
	}
}

// A LoadCredential= file as systemd writes it where the file system has
// ACLs (0400, an ACL entry letting the service's user read: stat shows
// mode 0440) is accepted as the secret and as the admin token file; an ACL
// that lets a group or another user read it is refused, as are plain group
// and other bits.
func TestCredentialWithACLIsPrivate(t *testing.T) {
	const none = 0xffffffff
	const userObj, mask, other = 0x01, 0x10, 0x20
	me := uint32(os.Geteuid())
	cases := []struct {
		name string
		mode os.FileMode
		acl  [][3]uint32
		ok   bool
	}{
		{"0600", 0o600, nil, true},
		{"0400", 0o400, nil, true},
		{"0640", 0o640, nil, false},
		{"0604", 0o604, nil, false},
		{"systemd credential", 0o400, [][3]uint32{{userObj, 4, none}, {aclUser, 4, me}, {aclGroupObj, 0, none}, {mask, 4, none}, {other, 0, none}}, true},
		{"acl for another user", 0o400, [][3]uint32{{userObj, 4, none}, {aclUser, 4, 4242}, {aclGroupObj, 0, none}, {mask, 4, none}, {other, 0, none}}, false},
		{"acl for a group", 0o400, [][3]uint32{{userObj, 4, none}, {aclGroupObj, 0, none}, {aclGroup, 4, 4242}, {mask, 4, none}, {other, 0, none}}, false},
		{"acl owning group reads", 0o400, [][3]uint32{{userObj, 4, none}, {aclUser, 4, me}, {aclGroupObj, 4, none}, {mask, 4, none}, {other, 0, none}}, false},
	}
	for _, c := range cases {
		dir := t.TempDir()
		secret := filepath.Join(dir, "secret")
		tok := filepath.Join(dir, "admin-token")
		os.WriteFile(secret, []byte(strings.Repeat("s", 32)), 0o600)
		os.WriteFile(tok, []byte("pm_admin_0123456789abcdef\n"), 0o600)
		for _, p := range []string{secret, tok} {
			os.Chmod(p, c.mode)
			if c.acl != nil {
				setACL(t, p, c.acl)
			}
		}
		_, errTok := ReadAdminTokenFile(tok)
		errSecret := checkPrivate("secret file", secret)
		for what, err := range map[string]error{"admin token file": errTok, "secret": errSecret} {
			if (err == nil) != c.ok {
				info, _ := os.Stat(secret)
				t.Errorf("%s, %s (stat mode %v): err %v, want ok=%v", c.name, what, info.Mode().Perm(), err, c.ok)
			}
		}
	}
}
