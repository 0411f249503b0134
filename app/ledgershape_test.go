package app

import "testing"

// A PostgreSQL ledger node runs one writer: the stamp of every batch that
// changes outlets holds the outlet_version row lock until its COMMIT is
// durable, so the batches of all writers of all nodes commit one after the
// other; more writers per node only split the arrivals into more, smaller
// batches queued on that lock (BENCHMARKS.md, branch pg12d: sale p99 at
// 1,500 sales/s offered). SQLite keeps two writers and the default batch.
func TestLedgerShape(t *testing.T) {
	for _, c := range []struct {
		db                string
		writers, maxBatch int
	}{
		{"postgres://u:p@db/publicmask", 1, 256},
		{"postgresql://u:p@db/publicmask?sslmode=disable", 1, 256},
		{"/var/lib/publicmask/ledger.db", 2, 0},
		{"file:ledger.db", 2, 0},
	} {
		if w, b := ledgerShape(c.db); w != c.writers || b != c.maxBatch {
			t.Errorf("ledgerShape(%q) = %d writers, batches of %d; want %d, %d", c.db, w, b, c.writers, c.maxBatch)
		}
	}
}
