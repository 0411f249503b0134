package ops

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/snapshot"
)

type staticSource []publicmask.Outlet

func (s staticSource) Outlets(context.Context) ([]publicmask.Outlet, int64, error) {
	return s, int64(len(s)), nil
}

func (s staticSource) OutletChanges(context.Context, int64, int) ([]publicmask.Outlet, error) {
	return nil, nil
}

// StaleCount (the gauge's walk, which allocates nothing) counts what the
// status page's list counts.
func TestStaleCountMatchesStatusList(t *testing.T) {
	now := time.Date(2020, 3, 11, 14, 0, 0, 0, time.UTC)
	snap := staleSnapshot(t, now)
	_, want := staleOutlets(now, snap, false)
	if want != 80 {
		t.Fatalf("status list counts %d stale outlets, want 80", want)
	}
	if got := StaleCount(now, snap); got != want {
		t.Fatalf("StaleCount = %d, status list %d", got, want)
	}
}

// staleSnapshot is a snapshot of 200 outlets, 80 of them stale at now.
func staleSnapshot(t *testing.T, now time.Time) *snapshot.Snapshot {
	var outlets []publicmask.Outlet
	for i := range 200 {
		o := publicmask.Outlet{Code: fmt.Sprintf("%08d", 11000000+i), Name: fmt.Sprintf("약국 %d", i),
			Addr: "서울특별시 중구 세종대로 110", Type: "01", Lat: 37.5663, Lng: 126.9779, Version: int64(i + 1)}
		switch i % 5 {
		case 0: // never stocked
		case 1: // stocked 4 hours ago: stale
			o.Stock, o.StockAt, o.UpdatedAt = 30, now.Add(-4*time.Hour), now.Add(-4*time.Hour)
		case 2: // stocked 3 hours ago exactly: stale
			o.Stock, o.StockAt, o.UpdatedAt = 30, now.Add(-3*time.Hour), now.Add(-3*time.Hour)
		case 3: // sold an hour ago
			o.Stock, o.StockAt, o.UpdatedAt = 30, now.Add(-4*time.Hour), now.Add(-time.Hour)
		case 4: // stale but suspended, or sold out
			o.Stock, o.StockAt, o.UpdatedAt = i%2*30, now.Add(-5*time.Hour), now.Add(-5*time.Hour)
			o.Suspended = i%2 == 1
		}
		outlets = append(outlets, o)
	}
	r := snapshot.NewRefresher(staticSource(outlets), snapshot.Options{})
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r.Current()
}
