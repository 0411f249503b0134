package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/metric"
)

// registerStoreMetrics exports the store's connection pool: a pool that is
// always exhausted is the first sign of a database that cannot keep up.
func registerStoreMetrics(reg prometheus.Registerer, st publicmask.Store) {
	// The store's own (SQLite: its WAL flushes and checkpoint passes).
	if c, ok := st.(interface{ Collectors() []prometheus.Collector }); ok {
		reg.MustRegister(c.Collectors()...)
	}
	ps, ok := st.(publicmask.PoolStatser)
	if !ok {
		return
	}
	gauge := func(name, help string, f func(publicmask.PoolStats) float64) prometheus.Collector {
		return metric.GaugeFunc(name, help, func() float64 { return f(ps.PoolStats()) })
	}
	counter := func(name, help string, f func(publicmask.PoolStats) float64) prometheus.Collector {
		return metric.CounterFunc(name, help, func() float64 { return f(ps.PoolStats()) })
	}
	reg.MustRegister(
		gauge("publicmask_store_connections_open", "Open store connections.", func(s publicmask.PoolStats) float64 { return float64(s.Open) }),
		gauge("publicmask_store_connections_in_use", "Store connections in use.", func(s publicmask.PoolStats) float64 { return float64(s.InUse) }),
		gauge("publicmask_store_connections_idle", "Idle store connections.", func(s publicmask.PoolStats) float64 { return float64(s.Idle) }),
		gauge("publicmask_store_connections_max", "Maximum store connections.", func(s publicmask.PoolStats) float64 { return float64(s.Max) }),
		counter("publicmask_store_wait_total", "Connection acquisitions that had to wait.", func(s publicmask.PoolStats) float64 { return float64(s.WaitCount) }),
		counter("publicmask_store_wait_seconds_total", "Time spent waiting for a store connection.", func(s publicmask.PoolStats) float64 { return s.WaitDuration.Seconds() }),
		counter("publicmask_store_retries_total", "Transactions run again after a serialization failure or deadlock.", func(s publicmask.PoolStats) float64 { return float64(s.Retries) }),
	)
}
