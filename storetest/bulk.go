package storetest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/clock"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/rrn/rrntest"
)

// perRow hides a store's optional Tx interfaces (BulkTx among them), so
// that the ledger takes its per-row path.
type perRow struct{ publicmask.Store }

func (p perRow) Write(ctx context.Context, fn func(publicmask.Tx) error) error {
	return p.Store.Write(ctx, func(tx publicmask.Tx) error { return fn(struct{ publicmask.Tx }{tx}) })
}

// RunBulk checks that imports and delivery lists give the same results
// through the store's BulkTx as through the per-row methods: answers,
// replays, refusals, stock, stock_at, the change feed and verify.
func RunBulk(t *testing.T, open func(t *testing.T) publicmask.Store) {
	bulk, row := open(t), open(t)
	t.Cleanup(func() { bulk.Close(); row.Close() })
	probe := false
	if err := bulk.Write(context.Background(), func(tx publicmask.Tx) error { _, probe = tx.(publicmask.BulkTx); return nil }); err != nil {
		t.Fatal(err)
	}
	if !probe {
		t.Fatal("the store's Tx does not implement publicmask.BulkTx")
	}
	a := runLoad(t, bulk)
	b := runLoad(t, perRow{row})
	if len(a) != len(b) {
		t.Fatalf("bulk gave %d observations, per-row %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("observation %d:\n bulk:    %s\n per-row: %s", i, a[i], b[i])
		}
	}
}

// runLoad runs a fixed sequence of imports and delivery lists through a
// ledger on s and returns what a client and an auditor would observe.
func runLoad(t *testing.T, s publicmask.Store) []string {
	t.Helper()
	ctx := context.Background()
	keyer, _ := rrntest.Keyer(t)
	clk := clock.NewManual(t0)
	l, err := ledger.New(ledger.Config{Store: s, Policy: policy.NewHolder(policy.Standard()), Keyer: keyer, Clock: clk,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	var obs []string
	const n = 2500 // more than one chunk of 2,000
	outlets := make([]publicmask.Outlet, n)
	for i := range outlets {
		outlets[i] = outlet(fmt.Sprintf("B%07d", i))
		outlets[i].UpdatedAt = t0
	}
	changed, err := l.ImportOutlets(ctx, outlets)
	obs = append(obs, fmt.Sprintf("import: %d %v", changed, err))
	// Again, with a tenth renamed: only those change.
	for i := 0; i < n; i += 10 {
		outlets[i].Name += " 2"
	}
	changed, err = l.ImportOutlets(ctx, outlets)
	obs = append(obs, fmt.Sprintf("reimport: %d %v", changed, err))

	clk.Advance(1e9)
	var lines []ledger.DeliveryRequest
	for i := range n {
		lines = append(lines, ledger.DeliveryRequest{Outlet: outlets[i].Code, Quantity: 100 + i%7, TxnID: fmt.Sprintf("open-%d", i)})
	}
	lines = append(lines,
		ledger.DeliveryRequest{Outlet: outlets[3].Code, Quantity: 50, TxnID: "second"},   // a second line of one outlet
		ledger.DeliveryRequest{Outlet: outlets[3].Code, Quantity: 50, TxnID: "second"},   // the same again: a replay
		ledger.DeliveryRequest{Outlet: outlets[3].Code, Quantity: 51, TxnID: "second"},   // reused with another body
		ledger.DeliveryRequest{Outlet: "NOSUCH", Quantity: 5, TxnID: "x"},                // unknown outlet
		ledger.DeliveryRequest{Outlet: outlets[4].Code, Quantity: -1, TxnID: "negative"}, // invalid
	)
	observe := func(step string) {
		res, err := l.DeliverMany(ctx, lines)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		for _, r := range res {
			o := fmt.Sprintf("%s %s/%s: replayed=%v code=%s", step, r.Outlet, r.TxnID, r.Replayed, publicmask.ErrorCode(r.Error))
			if r.Receipt != nil {
				o += fmt.Sprintf(" stock=%d status=%s stock_at=%s at=%s", r.Receipt.Stock, r.Receipt.Status, r.Receipt.StockAt, r.Receipt.At)
			}
			obs = append(obs, o)
		}
	}
	observe("deliver")
	clk.Advance(1e9)
	observe("replay") // every line again: the first answers, the same refusals

	return append(obs, audit(t, s, l, n)...)
}

// audit is what an auditor of a store after runLoad observes: every outlet,
// the change feed (each outlet once, in version order) and verify.
func audit(t *testing.T, s publicmask.Store, l *ledger.Ledger, n int) []string {
	t.Helper()
	ctx := context.Background()
	var obs []string
	all, _, err := s.Outlets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range all {
		obs = append(obs, fmt.Sprintf("outlet %s %q stock=%d stock_at=%s", o.Code, o.Name, o.Stock, o.StockAt))
	}
	// The feed lists each outlet once, in version order, the last change last.
	feed, err := s.OutletChanges(ctx, 0, 10*n)
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	seen := map[string]bool{}
	for _, o := range feed {
		if o.Version <= last || seen[o.Code] {
			t.Errorf("feed: %s at version %d after %d (seen before: %v)", o.Code, o.Version, last, seen[o.Code])
		}
		last, seen[o.Code] = o.Version, true
	}
	obs = append(obs, fmt.Sprintf("feed: %d outlets, last %s", len(feed), feed[len(feed)-1].Code))
	rep, err := l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	obs = append(obs, fmt.Sprintf("verify: ok=%v violations=%v outlets=%d", rep.OK, rep.Violations, rep.Checked.Outlets))
	if !rep.OK {
		t.Errorf("verify: %+v", rep.Violations)
	}
	return obs
}
