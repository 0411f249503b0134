package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/publicmask/publicmask/policy"
)

// TestPolicyReloadWithoutRestart: a policy file reloaded on SIGHUP, and a
// policy replaced through PUT /api/v2/admin/policy, take effect without a
// restart; an invalid one is refused and the rules in force stay.
func TestPolicyReloadWithoutRestart(t *testing.T) {
	dir := realRunDir(t, "runs a real server")
	file := filepath.Join(dir, "rules.json")
	write := func(p *policy.Policy) string {
		b, err := p.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	standard := write(policy.Standard())
	s := start(t, "--db", filepath.Join(dir, "pm.db"), "--seed", "none", "--policy", file)
	open := func() bool {
		var r struct {
			SalesOpen bool `json:"sales_open"`
		}
		s.mustCall("GET", "/api/v2/rules?date=2020-07-12", "", nil, &r, 200)
		return r.SalesOpen
	}
	waitOpen := func(want bool) {
		t.Helper()
		waitUntil(t, 5*time.Second, fmt.Sprintf("2020-07-12 sales_open to become %v", want), func() bool { return open() == want })
	}
	waitOpen(true) // standard has no end date

	write(policy.Korea2020())
	s.cmd.Process.Signal(syscall.SIGHUP)
	waitOpen(false) // korea-2020 closes sales on 12 July

	s.mustCall("PUT", "/api/v2/admin/policy", adminToken, standard, nil, 200)
	waitOpen(true)

	var e errBody
	s.mustCall("PUT", "/api/v2/admin/policy", adminToken, `{"name":"broken","periods":[{"from":"2020-13-01"}]}`, &e, 400)
	if e.Error.Code != "bad_request" || !open() {
		t.Fatalf("invalid policy: %+v, rules changed: %v", e, !open())
	}
	// A bad file on SIGHUP keeps the rules in force.
	os.WriteFile(file, []byte("{not json"), 0o644)
	s.cmd.Process.Signal(syscall.SIGHUP)
	// Wait for the reload to have been tried (and refused), not for a
	// fixed time that may be too short on a busy machine.
	waitUntil(t, 5*time.Second, "the bad policy file to be refused", func() bool {
		return strings.Contains(s.Logs(), "policy reload failed")
	})
	if !open() {
		t.Fatal("a bad policy file replaced the rules in force")
	}
	if s.cmd.ProcessState != nil {
		t.Fatal("server exited on a bad policy file")
	}
}
