package ledger_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
)

// TestReplaysAreByteIdentical: whichever way a retry reaches the store — a
// retry that would be refused now that its own purchase counts (quota used,
// stock gone), one that would still pass the rules (only its txn_id's
// record stops it), or many copies racing in one group commit — it gets the
// first receipt byte for byte (DESIGN.md §6.6), and exactly one sale is
// recorded per txn_id.
func TestReplaysAreByteIdentical(t *testing.T) {
	t.Run("standard", func(t *testing.T) { testReplays(t, testenv.New(t)) })
	// 8–11 July 2020: no limit and no check, so every retry would pass the
	// rules again and only the txn_id can tell it apart.
	t.Run("free sales", func(t *testing.T) {
		e := testenv.NewWith(t, testenv.Options{Policy: policy.Korea2020()})
		e.Clock.Set(time.Date(2020, 7, 9, 10, 0, 0, 0, publicmask.Seoul))
		testReplays(t, e)
	})
}

func testReplays(t *testing.T, e *testenv.Env) {
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 3)
	e.AddOutlet(t, "10000002", publicmask.TypePharmacy, 1000)
	body := func(r *ledger.Receipt) []byte {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name, outlet, txn, buyer string
		qty                      int
	}{
		{"two masks", "10000002", "a", testenv.Born(1983, 1), 2},
		{"one mask", "10000002", "b", testenv.Born(1988, 2), 1},
		{"stock gone after the first attempt", "10000001", "c", testenv.Born(1983, 3), 2},
	}
	for _, c := range cases {
		first, replayed, err := sell(e, c.outlet, c.txn, c.buyer, c.qty)
		if err != nil || replayed {
			t.Fatalf("%s: first: %v %v", c.name, replayed, err)
		}
		want := body(first)
		again, replayed, err := sell(e, c.outlet, c.txn, c.buyer, c.qty)
		if err != nil || !replayed || !bytes.Equal(body(again), want) {
			t.Fatalf("%s: retry %v %v\n got %s\nwant %s", c.name, replayed, err, body(again), want)
		}
		if _, _, err := sell(e, c.outlet, c.txn, c.buyer, c.qty+1); code(err) != publicmask.ETxnConflict {
			t.Fatalf("%s: other body: %v", c.name, err)
		}
	}
	// The first outlet has 1 mask left: a new buyer of 2 is refused.
	if _, _, err := sell(e, "10000001", "d", testenv.Born(1988, 4), 2); code(err) != publicmask.EOutOfStock {
		t.Fatalf("out of stock: %v", err)
	}

	// Racing copies: each txn_id sent 8 times at once.
	const buyers = 40
	var wg sync.WaitGroup
	bodies := make([][][]byte, buyers)
	for i := range buyers {
		bodies[i] = make([][]byte, 8)
		for k := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, _, err := sell(e, "10000002", fmt.Sprintf("race-%d", i), testenv.Born(1983, 100+i), 1)
				if err != nil {
					t.Errorf("race %d: %v", i, err)
					return
				}
				bodies[i][k] = body(r)
			}()
		}
	}
	wg.Wait()
	for i := range buyers {
		for k := 1; k < 8; k++ {
			if !bytes.Equal(bodies[i][k], bodies[i][0]) {
				t.Fatalf("race %d: answers differ:\n%s\n%s", i, bodies[i][k], bodies[i][0])
			}
		}
	}
	v, err := e.Ledger.Outlet(ctx, "10000002")
	if err != nil {
		t.Fatal(err)
	}
	if want := 1000 - 2 - 1 - buyers; v.Stock != want {
		t.Fatalf("stock %d, want %d (one sale per txn_id)", v.Stock, want)
	}
	mustVerify(t, e)
}
