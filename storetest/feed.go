package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// testFeedFollowsEveryWrite: after every kind of write to outlets (new
// outlets, registry changes, stock changes of held outlets several times a
// transaction and across many, the bulk paths with unknown codes among
// them, rolled-back transactions), the change feed returns exactly the
// outlets above a version, each once, at its current row, in version
// order, whatever the page size: what Outlets reads, sorted by version. A
// write path that did not reach the feed, or a superseded version that
// the feed still returned, fails it.
func testFeedFollowsEveryWrite(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(2020, 12))
	var codes []string
	for i := range 40 {
		codes = append(codes, fmt.Sprintf("7%07d", i))
	}
	saveOutlets(t, s, codes[:10]...)
	known := 10
	errRollback := errors.New("rolled back")
	for step := range 120 {
		kind := rng.IntN(6)
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			switch kind {
			case 0: // a new outlet, or a held one renamed
				i := rng.IntN(min(known+1, len(codes)))
				o, err := tx.LockOutlet(codes[i])
				if err != nil {
					o = outlet(codes[i])
				}
				o.Name = fmt.Sprintf("약국 %d", step)
				if err := tx.SaveOutlet(&o); err != nil {
					return err
				}
				known = max(known, i+1)
			case 1, 2: // stock changes, an outlet several times
				for range 1 + rng.IntN(8) {
					o, err := tx.LockOutlet(codes[rng.IntN(known)])
					if err != nil {
						return err
					}
					o.Stock += 1 + rng.IntN(5)
					if err := tx.SaveOutlet(&o); err != nil {
						return err
					}
				}
			case 3: // the bulk paths, unknown codes among the adds
				btx, ok := tx.(publicmask.BulkTx)
				if !ok {
					return nil
				}
				if sa, ok := tx.(publicmask.StockAdder); ok && rng.IntN(2) == 0 {
					var adds []publicmask.StockAdd
					for _, c := range codes {
						if rng.IntN(3) == 0 {
							adds = append(adds, publicmask.StockAdd{Outlet: c, Quantity: 1 + rng.IntN(9)})
						}
					}
					_, err := sa.AddStock(adds, t0.Add(time.Duration(step)*time.Second))
					return err
				}
				var os []*publicmask.Outlet
				grown := min(known+3, len(codes))
				for i, c := range codes[:grown] {
					if i >= known || rng.IntN(2) == 0 {
						o := outlet(c)
						o.Stock = rng.IntN(100)
						os = append(os, &o)
					}
				}
				known = grown
				return btx.SaveOutlets(os)
			case 4: // written, then rolled back
				o, err := tx.LockOutlet(codes[rng.IntN(known)])
				if err != nil {
					return err
				}
				o.Stock += 100
				if err := tx.SaveOutlet(&o); err != nil {
					return err
				}
				return errRollback
			case 5: // a sale's outlet write beside its other rows
				o, err := tx.LockOutlet(codes[rng.IntN(known)])
				if err != nil {
					return err
				}
				sl := sale(fmt.Sprintf("f%03d", step), o.Code, t0, 1, fmt.Sprintf("p%03d", step))
				if err := tx.InsertSale(sl); err != nil {
					return err
				}
				o.Stock--
				o.Sold++
				return tx.SaveOutlet(&o)
			}
			return nil
		})
		if err != nil && !errors.Is(err, errRollback) {
			t.Fatalf("step %d (kind %d): %v", step, kind, err)
		}
		if kind == 4 && err == nil {
			t.Fatalf("step %d: rollback not reported", step)
		}
		if step%10 == 9 || kind == 3 {
			checkFeed(t, s, fmt.Sprintf("step %d (kind %d)", step, kind))
		}
	}
	checkFeed(t, s, "at the end")
}

// checkFeed compares the feed with Outlets, from several versions and in
// pages of several sizes.
func checkFeed(t *testing.T, s publicmask.Store, when string) {
	t.Helper()
	ctx := context.Background()
	all, latest, err := s.Outlets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(all, func(a, b publicmask.Outlet) int { return int(a.Version - b.Version) })
	for i := 1; i < len(all); i++ {
		if all[i].Version == all[i-1].Version {
			t.Fatalf("%s: %s and %s share version %d", when, all[i-1].Code, all[i].Code, all[i].Version)
		}
	}
	if n := len(all); n > 0 && all[n-1].Version != latest {
		t.Fatalf("%s: Outlets' version %d, its last outlet's %d", when, latest, all[n-1].Version)
	}
	afters := []int64{0, latest}
	for i, o := range all {
		if i%4 == 0 {
			afters = append(afters, o.Version-1, o.Version)
		}
	}
	for _, after := range afters {
		var want []publicmask.Outlet
		for _, o := range all {
			if o.Version > after {
				want = append(want, o)
			}
		}
		for _, limit := range []int{1, 3, 1000} {
			var got []publicmask.Outlet
			for from := after; ; {
				page, err := s.OutletChanges(ctx, from, limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > limit {
					t.Fatalf("%s: %d changes for a limit of %d", when, len(page), limit)
				}
				got = append(got, page...)
				if len(page) < limit {
					break
				}
				from = page[len(page)-1].Version
			}
			if len(got) != len(want) {
				t.Fatalf("%s: %d changes after %d (limit %d), want %d: %v", when, len(got), after, limit, len(want), codesOf(got))
			}
			for i := range got {
				g, w := got[i], want[i]
				if g.Code != w.Code || g.Version != w.Version || g.Stock != w.Stock || g.Name != w.Name || g.Sold != w.Sold || !g.UpdatedAt.Equal(w.UpdatedAt) || !g.StockAt.Equal(w.StockAt) {
					t.Fatalf("%s: change %d after %d (limit %d) = %+v, want %+v", when, i, after, limit, g, w)
				}
			}
		}
	}
}

func codesOf(os []publicmask.Outlet) []string {
	var out []string
	for _, o := range os {
		out = append(out, fmt.Sprintf("%s@%d", o.Code, o.Version))
	}
	return out
}
