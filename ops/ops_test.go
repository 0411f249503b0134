package ops

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask/httpapi"
)

func TestQuantile(t *testing.T) {
	bounds := []float64{0.001, 0.01, 0.1, math.Inf(1)}
	for _, tc := range []struct {
		name         string
		newer, older []float64
		q            float64
		want         float64 // ms; -1 for nil
	}{
		{"no observations", []float64{0, 0, 0, 0}, nil, 0.99, -1},
		{"all in the first bucket", []float64{10, 10, 10, 10}, nil, 0.5, 0.5},
		{"interpolated in the second bucket", []float64{0, 10, 10, 10}, nil, 0.5, 5.5},
		{"only what happened since older", []float64{10, 20, 20, 20}, []float64{10, 10, 10, 10}, 0.5, 5.5},
		{"beyond the last bound: the last finite bound", []float64{0, 0, 0, 10}, nil, 0.99, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			older := hist{}
			if tc.older != nil {
				older = hist{bounds, tc.older}
			}
			got := quantile(hist{bounds, tc.newer}, older, tc.q)
			switch {
			case tc.want < 0 && got != nil:
				t.Fatalf("got %v, want none", *got)
			case tc.want >= 0 && (got == nil || math.Abs(*got-tc.want) > 1e-9):
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// The collector reads the node's registry: sales, public reads and the
// latency of each class become rates and percentiles in the status.
func TestStatusFromRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	sales := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "publicmask_sales_total"}, []string{"outcome"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "publicmask_http_request_duration_seconds",
		Buckets: []float64{.001, .01, .1}}, []string{"route", "class"})
	reg.MustRegister(sales, dur)
	c := NewCollector(reg)
	c.Sample()
	time.Sleep(10 * time.Millisecond) // rates divide by the time between samples
	sales.WithLabelValues("ok").Add(5)
	sales.WithLabelValues("refused").Add(100) // refusals are not sales
	for range 10 {
		dur.WithLabelValues("POST /api/v2/outlet/sales", "outlet").Observe(0.005)
	}
	c.Sample()

	now := time.Date(2020, 3, 11, 8, 0, 0, 0, time.UTC)
	out := Status(context.Background(), Node{Role: httpapi.RoleAll, Now: func() time.Time { return now }, Store: map[string]any{"ok": true}}, c, false)
	if out["role"] != "all" || out["now"] != now || out["snapshot"] != nil {
		t.Fatalf("status %v", out)
	}
	rates := out["rates"].(map[string]float64)
	if rates["sales_per_s"] <= 0 || rates["public_reads_per_s"] != 0 {
		t.Fatalf("rates %v", rates)
	}
	if h := out["history"].([]statusSample); len(h) != 1 || h[0].OutletP99Ms == nil || *h[0].OutletP99Ms <= 1 || *h[0].OutletP99Ms > 10 {
		t.Fatalf("history %+v", h)
	}
	lat := out["latency"].(map[string]latencyView)
	if lat["outlet"].P50Ms == nil || lat["public"].P50Ms != nil {
		t.Fatalf("latency %+v", lat)
	}
	if Status(context.Background(), Node{Role: httpapi.RolePublic, Now: time.Now}, nil, false)["rates"] != nil {
		t.Fatal("rates without a collector")
	}
}
