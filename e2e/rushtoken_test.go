package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRushAdminTokenFile: `publicmask rush --target` takes the admin token
// from a file (DESIGN.md §3 prefers one: a command line is visible to other
// processes), by serve's rules: a file others may read is refused before
// any request.
func TestRushAdminTokenFile(t *testing.T) {
	dir := realRunDir(t, "runs a real server and a rush")
	s := start(t, "--db", filepath.Join(dir, "pm.db"), "--seed", "none", "--clock", "2020-03-11T08:00:00+09:00")
	tokFile := filepath.Join(dir, "admin-token")
	if err := os.WriteFile(tokFile, []byte(adminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rush := func(file string) ([]byte, error) {
		return exec.Command(binary(t), "rush", "--target", s.base, "--admin-token-file", file, "--duration", "2s",
			"--outlets", "20", "--sales-rate", "50", "--read-rate", "50", "--quiet", "--report", filepath.Join(t.TempDir(), "report")).CombinedOutput()
	}
	if out, err := rush(tokFile); err != nil {
		t.Fatalf("rush --admin-token-file: %v\n%s", err, out)
	}
	if err := os.Chmod(tokFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := rush(tokFile); err == nil || !strings.Contains(string(out), "readable by others") {
		t.Fatalf("rush with a token file others may read: %v\n%s", err, out)
	}
}
