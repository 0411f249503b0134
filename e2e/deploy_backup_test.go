package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSQLiteOnlineBackup runs the online backup that README.md documents,
// as written there, against a node selling without pause (the national
// demo's store, a few thousand pages), restores it beside its secret and
// starts a node on it: verify is ok and every sale acknowledged before the
// backup began is in it and replays to its first receipt. The backup is
// 0600 from a shell whose umask is 022. The backup
// API's `.backup` restarts whenever another connection writes between its
// steps, so under sales it never finished (25 s at 500 sales/s, by hand).
func TestSQLiteOnlineBackup(t *testing.T) {
	skipShort(t, "runs real processes")
	sqlite3 := needTool(t, "sqlite3", "sqlite3")
	readme, err := os.ReadFile(repoFile("README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// As written: `(umask 077 && sqlite3 data/publicmask.db "VACUUM INTO 'backup.db'")`.
	m := regexp.MustCompile("`(\\(umask [0-7]+ && )?sqlite3 data/publicmask\\.db ([^`]+?)\\)?`").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md documents no `sqlite3 data/publicmask.db …` backup command")
	}
	dir := t.TempDir()
	db, backup := filepath.Join(dir, "pm.db"), filepath.Join(dir, "restored.db")
	// The documented command with this test's paths: its last *.db names
	// the backup.
	args := regexp.MustCompile(`[\w.-]+\.db\b`).ReplaceAllLiteralString(string(m[2]), backup)
	// From a shell with the usual umask: the documented one must make the
	// backup private (it holds person keys and token hashes).
	script := "umask 022; " + strings.TrimPrefix(string(m[1]), "(") + "exec " + sqlite3 + " " + db + " " + args
	s := start(t, "--db", db, "--clock", "2020-03-11T10:00:00+09:00")
	codes, tokens := setupOutlets(t, s, 4, 100000)

	var (
		mu   sync.Mutex
		acks []acked
		stop = make(chan struct{})
		wg   sync.WaitGroup
	)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i += 2 {
				select {
				case <-stop:
					return
				default:
				}
				c := codes[i%len(codes)]
				a := acked{outlet: c, token: tokens[c], txn: fmt.Sprintf("bk-%d", i), buyer: born83(i), qty: 1}
				var r saleReceipt
				if code, err := s.call("POST", "/api/v2/outlet/sales", a.token, a.body(), &r); err != nil || code != 201 {
					t.Errorf("sale %d: %d %v", i, code, err)
					return
				}
				a.saleID = r.SaleID
				mu.Lock()
				acks = append(acks, a)
				mu.Unlock()
			}
		}()
	}
	waitUntil(t, 10*time.Second, "sales under way", func() bool { mu.Lock(); defer mu.Unlock(); return len(acks) >= 200 })
	mu.Lock()
	before := len(acks)
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t0 := time.Now()
	// exec: the timeout kills sqlite3 itself, not only its shell.
	out, err := exec.CommandContext(ctx, "sh", "-c", script).CombinedOutput()
	took := time.Since(t0)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("the documented backup %q under sales: %v after %v\n%s", script, err, took.Round(time.Millisecond), out)
	}
	t.Logf("backup %q under sales took %v (%d sales acknowledged before it, %d in all)", script, took.Round(time.Millisecond), before, len(acks))
	if fi, err := os.Stat(backup); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("the documented backup, run with umask 022, is mode %v: readable by others (want 0600)", fi.Mode().Perm())
	}

	// Restore: the backup beside its secret (kept apart, README.md).
	secret, err := os.ReadFile(db + ".secret")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(backup+".secret", secret, 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "--db", backup, "--seed", "none", "--clock", "2020-03-11T10:00:00+09:00")
	r.mustVerify(t, "on the restored backup")
	replayAll(t, r, acks[:before])
	if strings.Contains(r.Logs(), "seeded") {
		t.Fatal("the restored store was seeded again: the backup lost the outlets")
	}
}
