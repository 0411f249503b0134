package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// On PostgreSQL: a public node never migrates (it refuses a schema that is
// not there yet) and holds no secret; `publicmask migrate` prepares the
// schema; the first ledger node without a configured admin token generates
// one, prints it once and keeps only its hash in the database, so that a
// second ledger node and a restart accept it; --admin-token-file works; no
// node writes anything to a relative data/ directory (§6.8, §6.9).
func TestPostgresPublicWithoutSecretAndAdminTokenInDatabase(t *testing.T) {
	skipShort(t, "runs real processes")
	dsn := pgDSN(t)
	// The nodes run in the test's working directory: none may write there
	// (the old default kept the admin token in a relative data/).
	cwd, _ := os.Getwd()
	before, _ := os.ReadDir(cwd)
	secret := secretFile(t, t.TempDir())
	bin := binary(t)
	clock := []string{"--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}

	addr := freeAddr(t)
	cmd := exec.Command(bin, append([]string{"serve", "--addr", addr, "--role", "public", "--db", dsn}, clock...)...)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "publicmask migrate") {
		t.Fatalf("public node on an unmigrated schema: %v\n%s", err, out)
	}
	cmd = exec.Command(bin, "migrate", "--db", dsn)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("publicmask migrate: %v\n%s", err, out)
	}

	ledgerArgs := func(addr string, extra ...string) []string {
		return append(append([]string{"serve", "--addr", addr, "--role", "ledger", "--db", dsn, "--secret-file", secret}, clock...), extra...)
	}
	a1 := freeAddr(t)
	l1 := startExact(t, a1, ledgerArgs(a1)...)
	m := regexp.MustCompile(`admin token \(generated[^)]*\): (pm_admin_\S+)`).FindStringSubmatch(l1.Logs())
	if m == nil {
		t.Fatalf("first ledger node printed no generated admin token:\n%s", l1.Logs())
	}
	tok := m[1]
	a2 := freeAddr(t)
	l2 := startExact(t, a2, ledgerArgs(a2)...)
	if strings.Contains(l2.Logs(), tok) || strings.Contains(l2.Logs(), "pm_admin_") {
		t.Fatalf("second ledger node printed a token:\n%s", l2.Logs())
	}
	for _, s := range []*server{l1, l2} {
		s.mustCall("GET", "/api/v2/admin/verify", tok, nil, nil, 200)
		s.mustCall("GET", "/api/v2/admin/verify", "pm_admin_not-the-token-at-all", nil, nil, 401)
	}
	l1.stop()
	l1 = startExact(t, a1, ledgerArgs(a1)...)
	if strings.Contains(l1.Logs(), "pm_admin_") {
		t.Fatalf("restarted ledger node printed a token again:\n%s", l1.Logs())
	}
	l1.mustCall("GET", "/api/v2/admin/verify", tok, nil, nil, 200)

	// A token file (systemd's LoadCredential), the same on every node.
	tokFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokFile, []byte(adminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a3 := freeAddr(t)
	l3 := startExact(t, a3, ledgerArgs(a3, "--admin-token-file", tokFile)...)
	l3.mustCall("GET", "/api/v2/admin/verify", adminToken, nil, nil, 200)
	if strings.Contains(l3.Logs(), adminToken) {
		t.Fatal("the admin token file's content was printed")
	}
	codes, _ := setupOutlets(t, l3, 1, 50)

	// A public node with neither secret nor admin token serves the data.
	ap := freeAddr(t)
	pub := startExact(t, ap, append([]string{"serve", "--addr", ap, "--role", "public", "--db", dsn}, clock...)...)
	if st := v1Stat(t, pub, codes[0]); st != "some" {
		t.Fatalf("public node: remain_stat %q, want some", st)
	}

	if after, _ := os.ReadDir(cwd); len(after) != len(before) {
		t.Fatalf("nodes wrote into their working directory: %v, before %v", after, before)
	}
}

// TestFirstLedgerShowsItsTokenWhenItCannotListen: the first ledger node on
// PostgreSQL generates the admin token and keeps only its hash; a start that
// fails after that (its address taken) still shows the token, since later
// starts print none (DESIGN.md §6.14: printed once, when it is generated).
// Before, the token was printed with the banner, after the listen: the
// database held the hash of a token nobody had seen.
func TestFirstLedgerShowsItsTokenWhenItCannotListen(t *testing.T) {
	skipShort(t, "runs real processes")
	dsn := pgDSN(t)
	bin := binary(t)
	if out, err := exec.Command(bin, "migrate", "--db", dsn).CombinedOutput(); err != nil {
		t.Fatalf("publicmask migrate: %v\n%s", err, out)
	}
	secret := secretFile(t, t.TempDir())
	args := func(addr string) []string {
		return []string{"serve", "--addr", addr, "--role", "ledger", "--db", dsn, "--secret-file", secret, "--seed", "none"}
	}
	taken, err := net.Listen("tcp", freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	out, err := exec.Command(bin, args(taken.Addr().String())...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "address already in use") {
		t.Fatalf("ledger node on a taken address: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`admin token \(generated[^)]*\): (pm_admin_\S+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("the failed first start generated a token and did not show it:\n%s", out)
	}
	a := freeAddr(t)
	l := startExact(t, a, args(a)...)
	if strings.Contains(l.Logs(), "pm_admin_") {
		t.Fatalf("the second start printed a token:\n%s", l.Logs())
	}
	l.mustCall("GET", "/api/v2/admin/verify", m[1], nil, nil, 200)
}
