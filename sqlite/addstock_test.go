package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// TestAddStockKeepsHotStateEqualToTheStore: AddStock mixed with per-row
// writes of the same outlets, in transactions that succeed, fail in fn or
// fail at the commit, with unknown codes among the adds. After each, only
// committed stock is in the database, the writer's copy reads as the
// database, a committed AddStock's outlets are held, and versions are one
// per changed outlet, in the order of the adds, with no gap.
func TestAddStockKeepsHotStateEqualToTheStore(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var codes []string
	var seed []*publicmask.Outlet
	for i := range 900 { // more than one multi-row group
		c := fmt.Sprintf("3%07d", 2*i) // odd codes are unknown
		codes = append(codes, c)
		seed = append(seed, &publicmask.Outlet{Code: c, Name: "약국 " + c, Addr: "서울특별시 중구", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127})
	}
	if err := s.Write(ctx, func(tx publicmask.Tx) error { return tx.(publicmask.BulkTx).SaveOutlets(seed) }); err != nil {
		t.Fatal(err)
	}
	model := map[string]int{}
	version := s.version
	rng := rand.New(rand.NewPCG(2020, 191))
	outcomes := map[string]int{}
	for step := range 60 {
		mode := []string{"ok", "ok", "fn", "commit"}[rng.IntN(4)]
		if mode == "commit" {
			s.failCommit = func() error { return errInjected }
		}
		at := time.Date(2020, 3, 11, 8, 0, 0, step*1001, time.UTC) // not whole microseconds
		var added map[string]int
		var changes int64
		var got []publicmask.Outlet
		var adds []publicmask.StockAdd
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			added, changes = map[string]int{}, 0
			// A per-row write before, of an outlet AddStock does not name
			// (the ledger adds only outlets its batch has not seen).
			row := codes[rng.IntN(len(codes))]
			if rng.IntN(2) == 0 {
				o, err := tx.LockOutlet(row)
				if err != nil {
					return err
				}
				o.Stock++
				if err := tx.SaveOutlet(&o); err != nil {
					return err
				}
				added[row]++
				changes++
			}
			pick := map[string]bool{}
			for range 1 + rng.IntN(1000) {
				i := rng.IntN(2 * len(codes))
				if c := fmt.Sprintf("3%07d", i); c != row {
					pick[c] = true
				}
			}
			adds = adds[:0]
			for _, c := range slices.Sorted(func(yield func(string) bool) {
				for c := range pick {
					if !yield(c) {
						return
					}
				}
			}) {
				q := 1 + rng.IntN(9)
				adds = append(adds, publicmask.StockAdd{Outlet: c, Quantity: q})
			}
			var err error
			got, err = tx.(publicmask.StockAdder).AddStock(adds, at)
			if err != nil {
				return err
			}
			for _, o := range got {
				for _, a := range adds {
					if a.Outlet == o.Code {
						added[o.Code] += a.Quantity
					}
				}
				changes++
			}
			if rng.IntN(3) == 0 && len(got) > 0 { // a per-row write after, on top
				o, err := tx.LockOutlet(got[0].Code)
				if err != nil {
					return err
				}
				o.Stock++
				if err := tx.SaveOutlet(&o); err != nil {
					return err
				}
				added[o.Code]++
				changes++
			}
			if mode == "fn" {
				return errInjected
			}
			return nil
		})
		s.failCommit = nil
		if (mode == "ok") != (err == nil) {
			t.Fatalf("step %d (%s): %v", step, mode, err)
		}
		// The rows AddStock returned: known codes only, their new stock,
		// versions in the order of the adds.
		var known []string
		for _, a := range adds {
			if slices.Contains(codes, a.Outlet) {
				known = append(known, a.Outlet)
			}
		}
		if len(got) != len(known) {
			t.Fatalf("step %d: AddStock returned %d rows for %d known codes", step, len(got), len(known))
		}
		slices.SortFunc(got, func(a, b publicmask.Outlet) int { return int(a.Version - b.Version) })
		for i := 1; i < len(got); i++ {
			if got[i].Version != got[i-1].Version+1 || got[i].Code <= got[i-1].Code {
				t.Fatalf("step %d: versions not one per outlet in the order of the adds: %s v%d after %s v%d", step, got[i].Code, got[i].Version, got[i-1].Code, got[i-1].Version)
			}
		}
		if err == nil {
			for c, q := range added {
				model[c] += q
			}
			version += changes
			for _, o := range got {
				if _, ok := s.hot.outlet(o.Code); !ok {
					t.Fatalf("step %d: %s not held after a committed AddStock", step, o.Code)
				}
				if !o.StockAt.Equal(at.Truncate(time.Microsecond)) || !o.UpdatedAt.Equal(o.StockAt) {
					t.Fatalf("step %d: %s stock_at %v updated_at %v, want %v", step, o.Code, o.StockAt, o.UpdatedAt, at)
				}
			}
		}
		if s.version != version {
			t.Fatalf("step %d (%s): store version %d, want %d", step, mode, s.version, version)
		}
		var max int64
		if err := s.reader.QueryRow(`SELECT MAX(version) FROM outlets`).Scan(&max); err != nil || max != version {
			t.Fatalf("step %d (%s): last version %d (%v), want %d", step, mode, max, err, version)
		}
		outcomes[mode]++
		for _, c := range codes {
			if got := dbOutlet(t, s, c).Stock; got != model[c] {
				t.Fatalf("step %d (%s): %s has stock %d, committed transactions delivered %d", step, mode, c, got, model[c])
			}
		}
		sameAsDB(t, s, codes, nil, nil)
		if t.Failed() {
			t.Fatalf("diverged at step %d after %s", step, mode)
		}
	}
	t.Logf("transactions: %v", outcomes)
}
