package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// TestBulkKeepsHotStateEqualToTheStore mixes bulk and per-row writes of the
// same outlets with transactions that fail in fn or at the commit: after
// each, the writer's copy and the database hold the same rows, and only
// committed transactions' stock is there.
func TestBulkKeepsHotStateEqualToTheStore(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var codes []string
	for i := range 900 { // more than one multi-row group
		codes = append(codes, fmt.Sprintf("2%07d", i))
	}
	model := map[string]int{}
	rng := rand.New(rand.NewPCG(2020, 19))
	outcomes := map[string]int{}
	for step := range 60 {
		mode := []string{"ok", "ok", "fn", "commit"}[rng.IntN(4)]
		if mode == "commit" {
			s.failCommit = func() error { return errInjected }
		}
		var added map[string]int
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			added = map[string]int{}
			bt := tx.(publicmask.BulkTx)
			pick := make([]string, 1+rng.IntN(len(codes)))
			for i := range pick {
				pick[i] = codes[rng.IntN(len(codes))]
			}
			if rng.IntN(3) == 0 { // a per-row read first: the row may come from the copy
				if _, err := tx.LockOutlet(pick[0]); err != nil && publicmask.ErrorCode(err) != publicmask.ENotFound {
					return err
				}
			}
			held, err := bt.LockOutlets(pick)
			if err != nil {
				return err
			}
			var save []*publicmask.Outlet
			var ds []*publicmask.Delivery
			var recs []publicmask.IdemRecord
			done := map[string]bool{}
			for i, c := range pick {
				if done[c] {
					continue
				}
				done[c] = true
				o, ok := held[c]
				if !ok {
					o = publicmask.Outlet{Code: c, Name: "약국 " + c, Addr: "서울특별시 중구", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127}
				}
				q := 1 + rng.IntN(9)
				o.Stock += q
				added[c] += q
				o.StockAt = time.Date(2020, 3, 11, 8, 0, 0, step*1001, time.UTC) // not whole microseconds
				o.UpdatedAt = o.StockAt
				save = append(save, &o)
				txn := fmt.Sprintf("s%d-%d", step, i)
				ds = append(ds, &publicmask.Delivery{ID: "d" + txn, Outlet: c, TxnID: txn, Quantity: q, At: o.StockAt})
				recs = append(recs, publicmask.IdemRecord{Outlet: c, TxnID: txn, BodyHash: "h", Response: []byte("{}"), CreatedAt: o.StockAt})
			}
			if err := bt.SaveOutlets(save); err != nil {
				return err
			}
			if err := bt.InsertDeliveries(ds); err != nil {
				return err
			}
			if err := bt.PutIdempotencies(recs); err != nil {
				return err
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
		if err == nil {
			for c, q := range added {
				model[c] += q
			}
		}
		outcomes[mode]++
		var present []string
		for _, c := range codes {
			if model[c] > 0 {
				present = append(present, c)
				if got := dbOutlet(t, s, c).Stock; got != model[c] {
					t.Fatalf("step %d (%s): %s has stock %d, committed transactions delivered %d", step, mode, c, got, model[c])
				}
			}
		}
		sameAsDB(t, s, present, nil, nil)
		if t.Failed() {
			t.Fatalf("diverged at step %d after %s", step, mode)
		}
	}
	t.Logf("transactions: %v", outcomes)
}
