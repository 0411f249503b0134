package app

import (
	"testing"
	"time"

	"github.com/publicmask/publicmask/ledger"
)

// TestTuneWritersPostgresGathers: a PostgreSQL node runs one writer whose
// small batches wait for company (PostgreSQL's CPU a sale falls steeply with
// the sales a batch; BENCHMARKS.md 2026-12-05), and a SQLite node keeps its
// two writers and its long token cache.
func TestTuneWritersPostgresGathers(t *testing.T) {
	var pg ledger.Config
	tuneWriters(&pg, true)
	if pg.Writers != 1 || pg.MaxBatch != 64 || pg.GatherWait != 5*time.Millisecond || pg.GatherBelow != 32 {
		t.Errorf("PostgreSQL: writers %d, max batch %d, gather %v below %d; want 1, 64, 5ms, 32", pg.Writers, pg.MaxBatch, pg.GatherWait, pg.GatherBelow)
	}
	if pg.TokenCacheTTL != 0 {
		t.Errorf("PostgreSQL: token cache TTL %v; want the ledger's default (another node may revoke)", pg.TokenCacheTTL)
	}
	var lite ledger.Config
	tuneWriters(&lite, false)
	if lite.Writers != 2 || lite.GatherWait != 3*time.Millisecond || lite.GatherBelow != 32 || lite.TokenCacheTTL != 15*time.Minute {
		t.Errorf("SQLite: writers %d, gather %v below %d, token TTL %v; want 2, 3ms, 32, 15m", lite.Writers, lite.GatherWait, lite.GatherBelow, lite.TokenCacheTTL)
	}
}
