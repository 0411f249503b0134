package snapshot

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// publicmask_snapshot_age_seconds is real seconds, whatever the service
// clock's rate: with --clock-rate 60 it read the service clock, so a node
// confirming its snapshot every second showed ages up to 60 s and the
// PublicmaskSnapshotStale alert (> 10 s) fired on a healthy node; the
// status page, which marks a stale snapshot, would flash on it.
func TestSnapshotAgeInRealSeconds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	fast := func() time.Time { return t0.Add(60 * time.Since(start)) } // --clock-rate 60
	reg := prometheus.NewRegistry()
	const every = 50 * time.Millisecond
	r := NewRefresher(newFakeSource(synthetic(10, 1)), Options{Clock: fast, ConfirmEvery: every, Registerer: reg})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for end := time.Now().Add(600 * time.Millisecond); time.Now().Before(end); time.Sleep(7 * time.Millisecond) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "publicmask_snapshot_age_seconds" {
				worst = max(worst, mf.GetMetric()[0].GetGauge().GetValue())
			}
		}
		worst = max(worst, r.Age().Seconds())
	}
	// Confirmed every 50 ms of real time: 3 s of service time.
	if worst > 10*every.Seconds() {
		t.Fatalf("snapshot age reached %.2f s with a confirmation every %v of real time", worst, every)
	}
}
