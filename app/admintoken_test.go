package app

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// DESIGN.md §3 sets the admin token by flag, environment or file with no
// minimum length: a short one must start the node (with a warning), not
// stop it; an empty token file is still refused.
func TestAdminTokenOfAnyLengthIsAccepted(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name      string
		cfg       Config
		want      string
		warns     bool
		wantError string
	}{
		{"short flag", Config{AdminToken: "s3kr1t"}, "s3kr1t", true, ""},
		{"long flag", Config{AdminToken: "a-long-enough-admin-token"}, "a-long-enough-admin-token", false, ""},
		{"short file", Config{AdminTokenFile: file("short", "adm9z\n")}, "adm9z", true, ""},
		{"file wins", Config{AdminToken: "from-the-flag-0000", AdminTokenFile: file("long", "from-the-file-0000\n")}, "from-the-file-0000", false, ""},
		{"empty file", Config{AdminTokenFile: file("empty", " \n")}, "", false, "holds no token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			c.cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			n := &Node{cfg: c.cfg}
			err := n.loadAdmin(context.Background())
			if c.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantError) {
					t.Fatalf("err %v, want one saying %q", err, c.wantError)
				}
				return
			}
			if err != nil || n.admin != c.want {
				t.Fatalf("token %q, err %v; want %q", n.admin, err, c.want)
			}
			if warned := strings.Contains(logs.String(), "admin token is short"); warned != c.warns {
				t.Errorf("warned=%v, want %v; logs: %s", warned, c.warns, logs.String())
			}
			if strings.Contains(logs.String(), c.want) {
				t.Errorf("the token itself is in the logs: %s", logs.String())
			}
		})
	}
}
