package ledger_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
)

// One outlet's lines straddle the cut between two chunks of a delivery
// list, and chunks are queued two at a time on a ledger with two writers:
// its receipts still count up in the list's order, a txn_id repeated after
// the cut is a replay of its first answer, and verify passes.
func TestDeliverManyKeepsAnOutletsLinesTogether(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	const n = 4100
	outlets := importPharmacies(t, e, "3", n)
	busy := outlets[1995].Code // its lines start just before the first cut
	var lines []ledger.DeliveryRequest
	for i, o := range outlets {
		lines = append(lines, ledger.DeliveryRequest{Outlet: o.Code, Quantity: 1, TxnID: fmt.Sprintf("open-%d", i)})
		if o.Code == busy {
			for k := range 20 {
				lines = append(lines, ledger.DeliveryRequest{Outlet: busy, Quantity: 1, TxnID: fmt.Sprintf("more-%d", k)})
			}
			lines = append(lines, ledger.DeliveryRequest{Outlet: busy, Quantity: 1, TxnID: "more-3"}) // again: a replay
		}
	}
	res, err := e.Ledger.DeliverMany(ctx, lines)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for i, r := range res {
		if r.Error != nil {
			t.Fatalf("line %d: %v", i, r.Error)
		}
		if r.Outlet != busy {
			continue
		}
		if r.TxnID == "more-3" && r.Replayed {
			if r.Receipt.Stock != 5 {
				t.Fatalf("the replay answers stock %d, want the first answer's 5", r.Receipt.Stock)
			}
			continue
		}
		want++
		if r.Receipt.Stock != want || r.Replayed {
			t.Fatalf("line %d (%s): stock %d replayed %v, want %d", i, r.TxnID, r.Receipt.Stock, r.Replayed, want)
		}
	}
	if want != 21 {
		t.Fatalf("%d lines of the busy outlet recorded", want)
	}
	mustVerify(t, e)
}

// An outlet's lines scattered through a list in no code order: sorting
// the list by outlet keeps them in the list's order (the receipts count up
// by txn_id's number), as a stable sort would.
func TestDeliverManyKeepsAnOutletsLinesInListOrder(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	const n = 300
	outlets := importPharmacies(t, e, "4", n)
	var lines []ledger.DeliveryRequest
	next := make([]int, n)
	for k := range 3000 {
		i := (k * 7919) % n // every outlet many times, the outlets out of order
		next[i]++
		lines = append(lines, ledger.DeliveryRequest{Outlet: outlets[i].Code, Quantity: 1, TxnID: fmt.Sprintf("t-%d", next[i])})
	}
	res, err := e.Ledger.DeliverMany(ctx, lines)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Error != nil {
			t.Fatalf("line %d: %v", i, r.Error)
		}
		if want := fmt.Sprintf("t-%d", r.Receipt.Stock); r.TxnID != want {
			t.Fatalf("line %d (%s of %s): stock %d, want the line's place among its outlet's", i, r.TxnID, r.Outlet, r.Receipt.Stock)
		}
	}
	mustVerify(t, e)
}

// importPharmacies imports n pharmacies coded prefix + seven digits.
func importPharmacies(t *testing.T, e *testenv.Env, prefix string, n int) []publicmask.Outlet {
	t.Helper()
	outlets := make([]publicmask.Outlet, n)
	for i := range outlets {
		outlets[i] = publicmask.Outlet{Code: fmt.Sprintf("%s%07d", prefix, i), Name: "약국", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127}
	}
	if _, err := e.Ledger.ImportOutlets(context.Background(), outlets); err != nil {
		t.Fatal(err)
	}
	return outlets
}
