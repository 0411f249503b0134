package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// TestFirstSaleOnAFullWeek measures how long the first sales wait after a
// store holding a million person-weeks of the current week is reopened (a
// node restarted mid-week): the week's person filter must not hold the
// writer. A measurement (BENCHMARKS.md), run on demand:
//
//	PUBLICMASK_FIRSTSALE=1 go test ./sqlite -run TestFirstSaleOnAFullWeek -v
func TestFirstSaleOnAFullWeek(t *testing.T) {
	if os.Getenv("PUBLICMASK_FIRSTSALE") == "" {
		t.Skip("a measurement: set PUBLICMASK_FIRSTSALE=1")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pm.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	const week = "2020-03-09"
	if _, err := s.writer.ExecContext(ctx, `WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM c WHERE i < 999999)
		INSERT INTO person_weeks SELECT printf('%032x', i*7919), ?, 1, 1, 1, 0 FROM c`, week); err != nil {
		t.Fatal(err)
	}
	s.Close()
	t0 := time.Now()
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	opened := time.Since(t0)
	var lat []time.Duration
	var first time.Duration
	for i := 0; time.Since(t0) < 3*time.Second; i++ {
		p := fmt.Sprintf("new%029d", i)
		st := time.Now()
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			got, err := tx.PersonWeeks(week, []string{p, fmt.Sprintf("%032x", i*7919)})
			if err != nil {
				return err
			}
			if len(got) != 1 {
				return fmt.Errorf("got %d rows", len(got))
			}
			return tx.PutPersonWeek(publicmask.PersonWeek{Person: p, Week: week, Usage: publicmask.Usage{Quantity: 1, Purchases: 1, WeekdayPurchases: 1}})
		})
		if err != nil {
			t.Fatal(err)
		}
		d := time.Since(st)
		if i == 0 {
			first = time.Since(t0)
		}
		lat = append(lat, d)
	}
	n := len(lat)
	slices.Sort(lat)
	fmt.Printf("FIRSTSALE open=%v first_sale_after_open_start=%v sales_in_3s=%d p50=%v p99=%v max=%v\n", opened, first, n, lat[n/2], lat[n*99/100], lat[n-1])
}
