package sqlite

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask/internal/metric"
)

// storeMetrics time the two disk operations a sale's tail is made of beside
// the CPU: the flush of the WAL that every acknowledgement waits for
// (durable.go) and the checkpoint passes that copy the WAL into the
// database file in the background (checkpoint.go, compact.go). With them a
// slow sale's commit hop (publicmask_ledger_wait_seconds) can be set
// against the disk in the same run, from /metrics.
type storeMetrics struct {
	flush      prometheus.Histogram
	checkpoint *prometheus.HistogramVec
	passive    prometheus.Observer // the passes without the writer lock, together
	locked     prometheus.Observer // the pass under the writer lock
	compact    prometheus.Observer // a quiet writer's compaction
	// pageMem is the memory the page caches' slabs hold (pagemem.go): a
	// part of RSS outside the Go heap, read beside it.
	pageMem prometheus.GaugeFunc
}

func newStoreMetrics() *storeMetrics {
	m := &storeMetrics{
		flush: metric.Histogram("publicmask_sqlite_wal_flush_seconds",
			"Flushes of the SQLite WAL to disk, each covering the commits finished before it began; every acknowledged write waits for one.",
			prometheus.ExponentialBuckets(0.000125, 2, 14)),
		checkpoint: metric.HistogramVec("publicmask_sqlite_checkpoint_seconds",
			"Background checkpoint passes (copy of the WAL into the database file and its flush), by kind: "+
				"passive (the passes without the writer lock and the flushes of the database file between them, together), locked (under the writer lock, so that the WAL restarts), compact (a quiet writer's truncation).",
			prometheus.ExponentialBuckets(0.001, 2, 14), "pass"),
	}
	m.pageMem = metric.GaugeFunc("publicmask_sqlite_page_cache_bytes",
		"Memory held by SQLite's page caches in this process (their slabs: every page slot ever used, in use or kept for the next page); outside the Go heap.",
		func() float64 { _, held := pageMemStats(); return float64(held) })
	m.passive = m.checkpoint.WithLabelValues("passive")
	m.locked = m.checkpoint.WithLabelValues("locked")
	m.compact = m.checkpoint.WithLabelValues("compact")
	return m
}

// Collectors are the store's own metrics, for the node's registry.
func (s *Store) Collectors() []prometheus.Collector {
	running := metric.GaugeFunc("publicmask_sqlite_wal_flush_running_seconds",
		"How long the flush of the WAL now in progress has run (0 when none): a disk whose flushes stall shows here while they last, publicmask_sqlite_wal_flush_seconds only once they end.",
		func() float64 { return s.FlushRunning().Seconds() })
	failures := metric.CounterFunc("publicmask_sqlite_checkpoint_failures_total",
		"Checkpoints that failed to copy the WAL into the database file (a disk too full for the file to grow, an I/O error): the WAL then cannot restart and grows.",
		func() float64 { n, _, _ := s.CheckpointHealth(); return float64(n) })
	wal := metric.GaugeFunc("publicmask_sqlite_wal_bytes",
		"Length of the SQLite WAL file: it restarts after a checkpoint once long (64 MiB of a new store's pages) and grows while checkpoints fail.",
		func() float64 { return float64(s.walBytes()) })
	return []prometheus.Collector{s.m.flush, s.m.checkpoint, s.m.pageMem, running, failures, wal}
}

func since(o prometheus.Observer, t time.Time) { o.Observe(time.Since(t).Seconds()) }
