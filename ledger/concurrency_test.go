package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
)

// TestConcurrentBuyers: dozens of buyers each trying four times at once
// across two outlets get exactly one purchase each, and the stock matches.
func TestConcurrentBuyers(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 1000)
	e.AddOutlet(t, "10000002", publicmask.TypePharmacy, 1000)
	const buyers, tries = 60, 4
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for b := range buyers {
		id := testenv.Born(1983+5*(b%2), b)
		for try := range tries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				outlet := []string{"10000001", "10000002"}[try%2]
				_, _, err := sell(e, outlet, fmt.Sprintf("b%d-try%d", b, try), id, 2)
				switch code(err) {
				case "":
					ok.Add(1)
				case publicmask.EQuotaExceeded:
					refused.Add(1)
				default:
					t.Errorf("unexpected: %v", err)
				}
			}()
		}
	}
	wg.Wait()
	if ok.Load() != buyers || refused.Load() != buyers*(tries-1) {
		t.Fatalf("ok=%d refused=%d, want %d and %d", ok.Load(), refused.Load(), buyers, buyers*(tries-1))
	}
	a, _ := e.Ledger.Outlet(ctx, "10000001")
	b, _ := e.Ledger.Outlet(ctx, "10000002")
	if a.Stock+b.Stock != 2000-2*buyers {
		t.Fatalf("stock %d + %d, want %d", a.Stock, b.Stock, 2000-2*buyers)
	}
	mustVerify(t, e)
}

// TestRandomOperations is a property test: any interleaving of sales (late
// ones too), cancels, deliveries, corrections and suspensions, from many
// goroutines, leaves the ledger verifiable, nobody above quota outside the
// flagged late sales, and no stock below zero.
func TestRandomOperations(t *testing.T) {
	e := testenv.New(t)
	outlets := []string{"20000001", "20000002", "20000003"}
	for _, o := range outlets {
		e.AddOutlet(t, o, publicmask.TypePharmacy, 30)
	}
	people := make([]string, 40)
	for i := range people {
		people[i] = testenv.Born(1900+[]int{83, 88, 73, 84, 38}[i%5], i)
	}
	var mu sync.Mutex
	var sales []string
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range 60 {
				o := outlets[rng.IntN(len(outlets))]
				txn := fmt.Sprintf("w%d-%d", w, i)
				// Every answer is a success or a refusal of the contract,
				// never an internal or store error.
				expect := func(err error, allowed ...string) {
					if err != nil && !slices.Contains(allowed, code(err)) {
						t.Errorf("unexpected error: %v", err)
					}
				}
				switch rng.IntN(10) {
				case 0:
					_, _, err := e.Ledger.Deliver(ctx, o, txn, 1+rng.IntN(20))
					expect(err)
				case 1:
					_, _, err := e.Ledger.CorrectStock(ctx, o, txn, rng.IntN(40))
					expect(err)
				case 2:
					_, err := e.Ledger.SetSuspended(ctx, o, rng.IntN(3) == 0)
					expect(err)
				case 3:
					mu.Lock()
					var id string
					if len(sales) > 0 {
						id = sales[rng.IntN(len(sales))]
					}
					mu.Unlock()
					if id != "" {
						found := 0
						for _, o := range outlets {
							_, err := e.Ledger.Cancel(ctx, o, id)
							expect(err, publicmask.ENotFound)
							if err == nil {
								found++
							}
						}
						if found != 1 {
							t.Errorf("sale %s cancelled at %d outlets, want exactly its own", id, found)
						}
					}
				default:
					req := ledger.SaleRequest{Outlet: o, TxnID: txn, Buyer: people[rng.IntN(len(people))], Quantity: 1 + rng.IntN(2)}
					if rng.IntN(3) == 0 { // a late sale, inside or outside the window
						req.SoldAt = e.Clock.Now().Add(-time.Duration(rng.Int64N(int64(30 * time.Hour))))
						req.Offline = rng.IntN(2) == 0
					}
					r, _, err := e.Ledger.Sell(ctx, req)
					expect(err, publicmask.EQuotaExceeded, publicmask.ENotEligibleToday, publicmask.EOutOfStock, publicmask.ESalesSuspended, publicmask.ELateSaleTooOld)
					if err == nil && r.Outlet.Stock < 0 {
						t.Errorf("sale %s left stock %d", r.SaleID, r.Outlet.Stock)
					}
					if err == nil {
						mu.Lock()
						sales = append(sales, r.SaleID)
						mu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	mustVerify(t, e)
	for _, o := range outlets {
		v, _ := e.Ledger.Outlet(ctx, o)
		if v.Stock < 0 {
			t.Fatalf("outlet %s stock %d < 0", o, v.Stock)
		}
	}
}

// TestVerifyDuringSales: verify reads one snapshot, so sales committing
// while it runs never show up as false violations.
func TestVerifyDuringSales(t *testing.T) {
	e := testenv.New(t)
	for _, o := range []string{"40000001", "40000002"} {
		e.AddOutlet(t, o, publicmask.TypePharmacy, 100_000)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				sell(e, []string{"40000001", "40000002"}[i%2], fmt.Sprintf("v%d-%d", w, i), testenv.Born(1983, w*10000+i), 1)
			}
		}()
	}
	for range 20 {
		rep, err := e.Ledger.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK {
			close(stop)
			wg.Wait()
			t.Fatalf("verify during sales: %+v", rep.Violations)
		}
	}
	close(stop)
	wg.Wait()
}
