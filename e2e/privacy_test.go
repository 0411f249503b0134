package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/publicmask/publicmask/rrn/rrntest"
)

// TestNoRawIDAfterARush: after `publicmask rush` drove a server (sales with
// valid, mistyped and repeated IDs), neither the server's output (at debug
// level) nor any of its database files holds anything shaped like a
// registration number with a valid check digit.
func TestNoRawIDAfterARush(t *testing.T) {
	dir := realRunDir(t, "runs a real server and a rush")
	s := start(t, "--db", filepath.Join(dir, "pm.db"), "--seed", "none", "--log-level", "debug", "--clock", "2020-03-11T08:00:00+09:00")
	rush := exec.Command(binary(t), "rush", "--target", s.base, "--admin-token", adminToken, "--duration", "5s",
		"--outlets", "200", "--sales-rate", "300", "--read-rate", "300", "--quiet", "--report", filepath.Join(t.TempDir(), "report"))
	if out, err := rush.CombinedOutput(); err != nil {
		t.Fatalf("rush: %v\n%s", err, out)
	}
	s.stop()
	check := func(where string, data []byte) {
		for _, m := range rrnShaped.FindAllSubmatch(data, -1) {
			if rrntest.HasCheckDigit(string(m[1]) + string(m[2])) {
				t.Fatalf("a registration number with a valid check digit in %s", where)
			}
		}
	}
	// The detector itself: it must see an ID in a log line or a record,
	// and must not see one inside a hex person key.
	for sample, want := range map[string]bool{
		`{"buyer":"830315-1234561"}`: true, "\x03" + "8303151234561" + "\x00": true,
		"9f8303151234561ab": false, `"830315-1234567"`: false, // a hex key; a bad check digit
	} {
		found := false
		for _, m := range rrnShaped.FindAllSubmatch([]byte(sample), -1) {
			found = found || rrntest.HasCheckDigit(string(m[1])+string(m[2]))
		}
		if found != want {
			t.Fatalf("detector on %q = %v, want %v", sample, found, want)
		}
	}
	check("the server's output", []byte(s.Logs()))
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) < 2 {
		t.Fatalf("database files: %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		check(filepath.Base(f), data)
	}
}

// rrnShaped: 6 + 7 digits, optionally hyphenated, not inside a longer run of
// letters or digits (person keys are hex and may hold long digit runs).
var rrnShaped = regexp.MustCompile(`(?:^|[^0-9A-Za-z])(\d{6})-?([1-8]\d{6})(?:[^0-9A-Za-z]|$)`)
