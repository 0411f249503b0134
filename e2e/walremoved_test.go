package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWALRemovedUnderTheNode: an operator (or a clean-up script) who
// removes pm.db-wal alone under a running node. SQLite keeps appending
// commits to the WAL it holds open, now unlinked, which no restart will
// read. On main (session 44) every sale after the rm was acknowledged (201)
// with /readyz 200, and after kill -9 and a restart those sales, retried
// with their txn_id, were recorded anew under another sale_id: lost. The
// node now compares the -wal path's inode with the WAL SQLite holds before
// each flush: it refuses the sale (503 store_unavailable, which the counter
// keeps and retries) and leaves the rotation, cause file_replaced.
func TestWALRemovedUnderTheNode(t *testing.T) {
	skipShort(t, "runs a real server and removes its -wal under it")
	dir := t.TempDir()
	db := filepath.Join(dir, "pm.db")
	args := []string{"--db", db, "--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	addr := freeAddr(t)
	s := startOn(t, addr, args...)
	codes, toks := setupOutlets(t, s, 1, 500)
	tok := toks[codes[0]]
	sell := func(s *server, txn string, n int) (int, saleReceipt) { return sellOne(t, s, tok, txn, n) }
	acked := map[string]string{} // txn_id → sale_id of every 201
	buyer := map[string]int{}
	for i := 1; i <= 3; i++ {
		txn := fmt.Sprintf("before-%d", i)
		code, r := sell(s, txn, i)
		if code != 201 {
			t.Fatalf("sale %s before the rm: %d", txn, code)
		}
		acked[txn], buyer[txn] = r.SaleID, i
	}
	if _, err := os.Stat(db + "-wal"); err != nil {
		t.Fatalf("no WAL under the running node: %v", err)
	}
	if err := os.Remove(db + "-wal"); err != nil {
		t.Fatal(err)
	}
	refused := 0
	for i := 4; i <= 8; i++ {
		txn := fmt.Sprintf("after-%d", i)
		code, r := sell(s, txn, i)
		switch code {
		case 201:
			acked[txn], buyer[txn] = r.SaleID, i
		case 503:
			refused++
		default:
			t.Errorf("sale %s after the rm: %d, want 503", txn, code)
		}
	}
	if refused != 5 {
		t.Errorf("sales after the -wal was removed under the node: %d of 5 refused, want all (503): they went into an unlinked WAL", refused)
	}
	expectFileReplaced(t, s, "the -wal was removed")
	if logs := s.Logs(); !strings.Contains(logs, "-wal") || !strings.Contains(logs, "file_replaced") {
		t.Errorf("the log does not say the WAL was removed:\n%s", logs)
	}

	// The worst case: the process killed, not stopped.
	s.kill9()
	s = startOn(t, addr, args...)
	s.mustVerify(t, "after the -wal was removed and the node killed")
	for txn, id := range acked {
		if code, r := sell(s, txn, buyer[txn]); r.SaleID != id {
			t.Errorf("acknowledged sale %s (sale %s) lost: retried after the restart, %d sale %q", txn, id, code, r.SaleID)
		}
	}
}
