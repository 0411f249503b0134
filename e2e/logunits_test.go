package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogDurationsCarryTheirUnit: the log's durations say their unit in
// their key, as the access log's dur_ms does. "tokens loaded" and "seeded
// the national demo" wrote "took":1734000000 — a time.Duration, which
// log/slog's JSON writes as a bare count of nanoseconds.
func TestLogDurationsCarryTheirUnit(t *testing.T) {
	skipShort(t, "runs a real server")
	s := start(t, "--db", filepath.Join(t.TempDir(), "pm.db"), "--seed", "none")
	found := false
	for _, line := range strings.Split(s.Logs(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if m["msg"] == "tokens loaded" {
			found = true
		}
		if _, ok := m["took"]; ok {
			t.Errorf("a duration without its unit: %s", line)
		}
		if m["msg"] == "tokens loaded" {
			if _, ok := m["took_ms"].(float64); !ok {
				t.Errorf("tokens loaded without took_ms: %s", line)
			}
		}
	}
	if !found {
		t.Fatalf("no 'tokens loaded' line:\n%s", s.Logs())
	}
}
