// Package storetest is the conformance suite that every publicmask.Store
// must pass. Store packages call Run from their tests with a constructor
// that returns a fresh, empty store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// Run runs the suite. open must return an empty store; Run closes it.
func Run(t *testing.T, open func(t *testing.T) publicmask.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s publicmask.Store)
	}{
		{"OutletsAndVersions", testOutletsAndVersions},
		{"RollbackLeavesNothing", testRollback},
		{"Idempotency", testIdempotency},
		{"SaleRecord", testSaleRecord},
		{"PersonWeeks", testPersonWeeks},
		{"PersonWeeksOfSales", testPersonWeeksOfSales},
		{"SalesAndItems", testSales},
		{"SalesSinceInInsertionOrder", testSalesSinceOrder},
		{"SaleOutletType", testSaleOutletType},
		{"TotalsAndConflicts", testTotals},
		{"Tokens", testTokens},
		{"Purge", testPurge},
		{"PurgeInChunks", testPurgeMany},
		{"PurgeSaleRecords", testPurgeSaleRecords},
		{"StockBeyond32Bits", testLargeStock},
		{"Meta", testMeta},
		{"Epochs", testEpochs},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ReadYourWritesInTx", testReadYourWrites},
		{"VersionsStampedOncePerWrite", testVersionsPerWrite},
		{"FeedFollowsEveryWrite", testFeedFollowsEveryWrite},
		{"LateSalesAndShortfalls", testLateSales},
		{"SuspensionHistory", testSuspensions},
		{"OutletActive", testOutletActive},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

var t0 = time.Date(2020, 3, 11, 1, 0, 0, 0, time.UTC) // 10:00 KST, Wednesday

func outlet(code string) publicmask.Outlet {
	return publicmask.Outlet{Code: code, Name: "약국 " + code, Addr: "서울특별시 강북구 솔매로 38 (미아동)", Type: publicmask.TypePharmacy, Lat: 37.6254369, Lng: 127.0164096, UpdatedAt: t0}
}

func write(t *testing.T, s publicmask.Store, fn func(tx publicmask.Tx) error) {
	t.Helper()
	if err := s.Write(context.Background(), fn); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func saveOutlets(t *testing.T, s publicmask.Store, codes ...string) {
	t.Helper()
	write(t, s, func(tx publicmask.Tx) error {
		for _, c := range codes {
			o := outlet(c)
			if err := tx.SaveOutlet(&o); err != nil {
				return err
			}
		}
		return nil
	})
}

func sale(id, outletCode string, at time.Time, qty int, persons ...string) *publicmask.Sale {
	s := &publicmask.Sale{ID: id, Outlet: outletCode, TxnID: "txn-" + id, SoldAt: at, RecordedAt: at, Week: "2020-03-09", Quantity: qty}
	for i, p := range persons {
		role := "buyer"
		if i > 0 {
			role = "proxy"
		}
		s.Items = append(s.Items, publicmask.SaleItem{Role: role, Person: p, Category: map[bool]string{true: "child"}[i > 0], BirthYear: 1983, Quantity: qty / len(persons)})
	}
	return s
}

func testTokens(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	write(t, s, func(tx publicmask.Tx) error {
		return tx.PutToken(publicmask.Token{Hash: "h-outlet", Role: publicmask.RoleOutlet, Outlet: "00000001", CreatedAt: t0})
	})
	tok, err := s.Token(ctx, "h-outlet")
	if err != nil || tok.Role != publicmask.RoleOutlet || tok.Outlet != "00000001" || !tok.RevokedAt.IsZero() {
		t.Fatalf("Token = %+v, %v", tok, err)
	}
	write(t, s, func(tx publicmask.Tx) error { return tx.RevokeToken("h-outlet", t0.Add(time.Hour)) })
	tok, _ = s.Token(ctx, "h-outlet")
	if !tok.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("revocation not stored: %+v", tok)
	}
	if _, err := s.Token(ctx, "nope"); publicmask.ErrorCode(err) != publicmask.ENotFound {
		t.Fatalf("missing token: %v", err)
	}

	// Every store lists its tokens: a ledger node loads them at start
	// (ledger/tokens.go, DESIGN.md §6.5).
	tl, ok := s.(publicmask.TokenLister)
	if !ok {
		t.Fatalf("%T does not implement publicmask.TokenLister", s)
	}
	write(t, s, func(tx publicmask.Tx) error {
		return tx.PutToken(publicmask.Token{Hash: "h-dist", Role: publicmask.RoleDistributor, CreatedAt: t0})
	})
	if n, err := tl.TokenCount(ctx); err != nil || n != 2 {
		t.Fatalf("TokenCount = %d, %v; want 2", n, err)
	}
	list := func(since time.Time) map[string]time.Time {
		t.Helper()
		got := map[string]time.Time{}
		if err := tl.TokenHashes(ctx, since, func(h []byte, created time.Time) error {
			got[string(h)] = created // h is valid only until fn returns
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := list(time.Time{}); len(got) != 2 || !got["h-outlet"].Equal(t0) || !got["h-dist"].Equal(t0) {
		t.Fatalf("TokenHashes(every token) = %v, want h-outlet and h-dist (the revoked one too), created %v", got, t0)
	}
	// From a watermark: the tokens created at or after it.
	write(t, s, func(tx publicmask.Tx) error {
		return tx.PutToken(publicmask.Token{Hash: "h-later", Role: publicmask.RoleDistributor, CreatedAt: t0.Add(time.Minute)})
	})
	if got := list(t0.Add(time.Minute)); len(got) != 1 || !got["h-later"].Equal(t0.Add(time.Minute)) {
		t.Fatalf("TokenHashes(since the later token) = %v, want h-later alone", got)
	}
	if got := list(t0); len(got) != 3 {
		t.Fatalf("TokenHashes(since t0) = %v, want all three (at or after)", got)
	}
	if got := list(t0.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("TokenHashes(after every token) = %v, want none", got)
	}
	if n, err := tl.TokenCount(ctx); err != nil || n != 3 {
		t.Fatalf("TokenCount = %d, %v; want 3", n, err)
	}
	stop := errors.New("stop")
	if err := tl.TokenHashes(ctx, time.Time{}, func([]byte, time.Time) error { return stop }); err != stop {
		t.Fatalf("TokenHashes with fn failing = %v, want fn's error", err)
	}
}

func testMeta(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	if v, err := s.Meta(ctx, "k"); err != nil || v != "" {
		t.Fatalf("unset meta = %q, %v", v, err)
	}
	for _, v := range []string{"one", "two"} {
		if err := s.SetMeta(ctx, "k", v); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Meta(ctx, "k"); got != v {
			t.Fatalf("meta = %q, want %q", got, v)
		}
	}
	// InitMeta: the first value wins, and everyone is told the value in force.
	if v, err := s.InitMeta(ctx, "fp", "first"); err != nil || v != "first" {
		t.Fatalf("InitMeta on unset = %q, %v", v, err)
	}
	if v, err := s.InitMeta(ctx, "fp", "second"); err != nil || v != "first" {
		t.Fatalf("InitMeta on set = %q, %v; want the first value kept", v, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// testEpochs: each NewEpoch appends to the chain from the store's current
// version, and Epochs reads the chain in force.
func testEpochs(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	if es, err := s.Epochs(ctx); err != nil || len(es) != 0 {
		t.Fatalf("a new store's epochs = %v, %v", es, err)
	}
	es, err := s.NewEpoch(ctx, "first")
	if err != nil || es.String() != "first:0" {
		t.Fatalf("NewEpoch on a new store = %q, %v; want first:0", es, err)
	}
	var o publicmask.Outlet
	write(t, s, func(tx publicmask.Tx) error {
		o = outlet("E1")
		return tx.SaveOutlet(&o)
	})
	es, err = s.NewEpoch(ctx, "second")
	if err != nil || es.String() != fmt.Sprintf("first:0,second:%d", o.Version) {
		t.Fatalf("NewEpoch after a write at version %d = %q, %v", o.Version, es, err)
	}
	if got, err := s.Epochs(ctx); err != nil || got.String() != es.String() || got.Latest() != "second" {
		t.Fatalf("Epochs = %q, %v; want %q", got, err, es)
	}
	if !es.Holds("first", o.Version) || es.Holds("first", o.Version+1) {
		t.Errorf("the first epoch should end at the write's version %d", o.Version)
	}
}
