package ledger_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"weak"

	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
)

// A delivery list is not kept once it is answered: the writer reuses its
// batch's slice of ops, and an op left in it kept its closure — the whole
// list, its hashes and receipts — reachable until a later batch of as many
// ops overwrote it (after the opening deliveries of 540,000 outlets, ~16 MB
// of live heap that nothing would ever need; BENCHMARKS.md, branch heap20).
func TestDeliverManyReleasesTheList(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	const n = 3000
	outlets := importPharmacies(t, e, "5", n)
	deliver := func() weak.Pointer[ledger.DeliveryRequest] {
		lines := make([]ledger.DeliveryRequest, n)
		for i, o := range outlets {
			lines[i] = ledger.DeliveryRequest{Outlet: o.Code, Quantity: 10, TxnID: fmt.Sprintf("open-%d", i)}
		}
		res, err := e.Ledger.DeliverMany(ctx, lines)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Error != nil {
				t.Fatalf("line %d: %v", i, r.Error)
			}
		}
		return weak.Make(&lines[0])
	}
	w := deliver()
	for range 3 {
		runtime.GC()
	}
	if w.Value() != nil {
		t.Fatal("the delivery list is still reachable after its answer")
	}
	mustVerify(t, e)
}
