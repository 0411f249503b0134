package rush

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --admin-token-file (DESIGN.md §3: a file is preferred, a command line is
// visible to other processes) reads the token by serve's rules: its first
// line, trimmed; a file others may read is refused. It wins over
// --admin-token, and PUBLICMASK_ADMIN_TOKEN_FILE stands for it.
func TestAdminTokenFile(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The token the rush would send to its target, or the error before
	// any request (Run checks its Config first).
	sent := func(args ...string) (string, error) {
		c, err := parseFlags(append([]string{"--target", "http://127.0.0.1:1"}, args...))
		if err != nil {
			return "", err
		}
		if err := c.check(); err != nil {
			return "", err
		}
		return "Bearer " + c.AdminToken, nil
	}

	good := file("token", "pm_admin_from_file_0123456789\n", 0o600)
	if got, _ := sent("--admin-token-file", good); got != "Bearer pm_admin_from_file_0123456789" {
		t.Errorf("--admin-token-file: the target saw %q", got)
	}
	if got, _ := sent("--admin-token", "on-the-command-line", "--admin-token-file", good); got != "Bearer pm_admin_from_file_0123456789" {
		t.Errorf("--admin-token-file beside --admin-token: the target saw %q; the file wins (as serve)", got)
	}
	t.Setenv("PUBLICMASK_ADMIN_TOKEN_FILE", good)
	if got, _ := sent(); got != "Bearer pm_admin_from_file_0123456789" {
		t.Errorf("PUBLICMASK_ADMIN_TOKEN_FILE: the target saw %q", got)
	}
	t.Setenv("PUBLICMASK_ADMIN_TOKEN_FILE", "")
	if got, _ := sent("--admin-token", "on-the-command-line"); got != "Bearer on-the-command-line" {
		t.Errorf("--admin-token (the contract) no longer works: the target saw %q", got)
	}
	for _, c := range []struct{ name, path, want string }{
		{"readable by others", file("open", "tok-0123456789abcdef\n", 0o644), "readable by others"},
		{"empty", file("empty", "\n\n", 0o600), "holds no token"},
		{"missing", filepath.Join(dir, "nothing"), "no such file"},
	} {
		got, err := sent("--admin-token-file", c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) || got != "" {
			t.Errorf("%s file: %v, the target saw %q; want an error %q before any request", c.name, err, got, c.want)
		}
	}
}
