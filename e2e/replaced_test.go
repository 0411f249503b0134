package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStoreFileReplacedUnderTheNode: the runbook restores a SQLite backup
// with the node stopped (README.md, "Backups"). An operator who puts the
// backup in place under the running node instead (a rename over the path,
// the -wal and -shm removed, as the restore says) leaves the node writing
// to the file it opened, which no one will read again. On main (session
// 43) it went on acknowledging sales into that file with /readyz 200, and
// a restart on the restored file lost them silently. The node now checks
// the path's file (device and inode) after each flush and on /readyz: it
// refuses the sale (503 store_unavailable, which the counter keeps and
// retries), leaves the rotation, and says why on /status and in its log.
// The backup's mode (0644 under the usual umask) was kept by the store
// started on it, and by the WAL SQLite made with it: now made 0600.
func TestStoreFileReplacedUnderTheNode(t *testing.T) {
	skipShort(t, "runs a real server and replaces its store file")
	sqlite3 := needTool(t, "sqlite3", "sqlite3")
	dir := t.TempDir()
	db := filepath.Join(dir, "pm.db")
	args := []string{"--db", db, "--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	addr := freeAddr(t)
	s := startOn(t, addr, args...)
	codes, toks := setupOutlets(t, s, 1, 500)
	tok := toks[codes[0]]
	sell := func(s *server, txn string, n int) (int, saleReceipt) { return sellOne(t, s, tok, txn, n) }
	var before saleReceipt
	s.mustCall("POST", "/api/v2/outlet/sales", tok, map[string]any{"txn_id": "before", "buyer": born83(1), "quantity": 1}, &before, 201)
	backup := filepath.Join(dir, "backup.db")
	if out, err := exec.Command(sqlite3, db, "VACUUM INTO '"+backup+"'").CombinedOutput(); err != nil {
		t.Fatalf("VACUUM INTO: %v %s", err, out)
	}
	// The mode VACUUM INTO gives it under the usual umask (022).
	if err := os.Chmod(backup, 0o644); err != nil {
		t.Fatal(err)
	}
	// Acknowledged after the backup: a restore loses it, as it should.
	s.mustCall("POST", "/api/v2/outlet/sales", tok, map[string]any{"txn_id": "lost-by-the-restore", "buyer": born83(2), "quantity": 1}, nil, 201)

	// The mistake: the backup put in place with the node running.
	if err := os.Rename(backup, db); err != nil {
		t.Fatal(err)
	}
	os.Remove(db + "-wal")
	os.Remove(db + "-shm")

	// A sale at once, before any probe: the flush's check refuses it.
	code, after := sell(s, "after-the-replace", 3)
	if code == 201 {
		t.Errorf("a sale after the store's file was replaced under the node: 201 (sale %s), want 503: it went into a file no one will read again", after.SaleID)
	} else if code != 503 {
		t.Errorf("a sale after the store's file was replaced: %d, want 503", code)
	}
	expectFileReplaced(t, s, "the store's file was replaced")
	if logs := s.Logs(); !strings.Contains(logs, "file_replaced") || !strings.Contains(logs, "replaced, moved or removed under the running node") {
		t.Errorf("the log does not say the store's file was replaced:\n%s", logs)
	}

	// Restarted on the restored file: every sale acknowledged is there,
	// but the one acknowledged after the backup (the restore's loss).
	s.stop()
	s = startOn(t, addr, args...)
	s.mustVerify(t, "on the file put in place")
	// The backup's 0644 is not kept: the store holds person keys.
	for _, p := range []string{db, db + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s after the node started on a 0644 backup: mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
	if !strings.Contains(s.Logs(), "made readable by the owner only") {
		t.Errorf("the log does not say the store's files were made private:\n%s", s.Logs())
	}
	if code, r := sell(s, "before", 1); code/100 != 2 || r.SaleID != before.SaleID {
		t.Errorf("the sale of before the backup, retried: %d sale %q, want its receipt %q", code, r.SaleID, before.SaleID)
	}
	if code == 201 {
		if c, r := sell(s, "after-the-replace", 3); r.SaleID != after.SaleID {
			t.Errorf("the sale acknowledged after the replace (sale %s) is lost: retried, %d sale %q", after.SaleID, c, r.SaleID)
		}
	} else if c, _ := sell(s, "after-the-replace", 3); c != 201 {
		t.Errorf("the refused sale, retried on the restarted node: %d, want 201", c)
	}
}

// sellOne sells one box to born83(n) under txn and returns the status and
// the receipt.
func sellOne(t *testing.T, s *server, tok, txn string, n int) (int, saleReceipt) {
	t.Helper()
	var r saleReceipt
	code, err := s.call("POST", "/api/v2/outlet/sales", tok, map[string]any{"txn_id": txn, "buyer": born83(n), "quantity": 1}, &r)
	if err != nil {
		t.Fatal(err)
	}
	return code, r
}

// expectFileReplaced: within 3 s /readyz is 503 and /status says the
// store failed with cause file_replaced (after what).
func expectFileReplaced(t *testing.T, s *server, what string) {
	t.Helper()
	var ready int
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if ready, _ = s.get("/readyz"); ready != 200 || time.Now().After(deadline) {
			break
		}
	}
	if ready != 503 {
		t.Errorf("/readyz 3 s after %s: %d, want 503", what, ready)
	}
	if st := s.storeStatus(); st.OK || st.Cause != "file_replaced" {
		t.Errorf("/status store after %s: %+v, want ok false, cause file_replaced", what, st)
	}
}
