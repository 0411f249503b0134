package snapshot

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	publicmask "github.com/publicmask/publicmask"
)

// The apply histogram must resolve sub-millisecond applies: bench-scale.sh
// judges the p99 ratio between 26,263 and 540,000 outlets on it, and a p99
// interpolated inside a ×4 bucket swung by 2.7× between identical runs.
func TestApplyHistogramResolvesSubMillisecond(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newFakeSource(synthetic(200, 4))
	reg := prometheus.NewRegistry()
	r := NewRefresher(src, Options{Registerer: reg})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	all, _, _ := src.Outlets(ctx)
	o := all[3]
	o.Stock, o.StockAt, o.UpdatedAt = 5, t0, t0
	r.Notify([]publicmask.Outlet{src.put(o)})
	waitFor(t, func() bool { e, _ := r.Current().Lookup(o.Code); return e.Stock == 5 })

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "publicmask_snapshot_apply_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() == 0 {
			t.Fatal("no apply observed")
		}
		bs := h.GetBucket()
		if first := bs[0].GetUpperBound(); first > 50e-6 {
			t.Errorf("first bucket %g s: sub-50 µs applies are not told apart", first)
		}
		if last := bs[len(bs)-1].GetUpperBound(); last < 0.5 {
			t.Errorf("last bucket %g s: a slow apply is not placed", last)
		}
		for i := 1; i < len(bs); i++ {
			if ratio := bs[i].GetUpperBound() / bs[i-1].GetUpperBound(); ratio > 2.0001 {
				t.Errorf("bucket %g → %g s (×%.1f): a p99 inside it is guesswork", bs[i-1].GetUpperBound(), bs[i].GetUpperBound(), ratio)
			}
		}
		return
	}
	t.Fatal("publicmask_snapshot_apply_seconds not registered")
}
