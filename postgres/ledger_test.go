package postgres

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/clock"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/rrn"
	"github.com/publicmask/publicmask/rrn/rrntest"
)

// newLedger starts a ledger (one "node") on store s with the given keyer.
func newLedger(tb testing.TB, s publicmask.Store, keyer *rrn.Keyer, clk clock.Clock, writers int) *ledger.Ledger {
	tb.Helper()
	l, err := ledger.New(ledger.Config{
		Store: s, Policy: policy.NewHolder(policy.Standard()), Keyer: keyer, Clock: clk, Writers: writers,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close(context.Background()) })
	return l
}

// setupOutlets registers n outlets through l and delivers stock to each.
func setupOutlets(tb testing.TB, l *ledger.Ledger, n, stock int) []string {
	tb.Helper()
	ctx := context.Background()
	codes := make([]string, n)
	outlets := make([]publicmask.Outlet, n)
	lines := make([]ledger.DeliveryRequest, n)
	for i := range n {
		codes[i] = fmt.Sprintf("%08d", 10000000+i)
		outlets[i] = publicmask.Outlet{Code: codes[i], Name: "약국 " + codes[i], Addr: "서울특별시 강남구 논현동 1", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127.0}
		lines[i] = ledger.DeliveryRequest{Outlet: codes[i], Quantity: stock, TxnID: "open-" + codes[i]}
	}
	if _, err := l.ImportOutlets(ctx, outlets); err != nil {
		tb.Fatal(err)
	}
	res, err := l.DeliverMany(ctx, lines)
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range res {
		if r.Error != nil {
			tb.Fatal(r.Error)
		}
	}
	return codes
}

// buyerID is the i-th synthetic buyer allowed to buy on testenv.Start (a
// Wednesday: birth years ending in 3 or 8).
func buyerID(i int) string {
	years := []int{1943, 1948, 1953, 1958, 1963, 1968, 1973, 1978, 1983, 1988, 1993, 1998, 2003, 2008}
	serial, rest := i%100000, i/100000
	day := 1 + rest%28
	rest /= 28
	year := years[rest%len(years)]
	month := 1 + (rest/len(years))%12
	sex := byte('1' + i%2)
	if year >= 2000 {
		sex += 2
	}
	return testenv.ID(fmt.Sprintf("%02d%02d%02d", year%100, month, day), sex, serial)
}

// TestTwoLedgersQuota: forty buyers each try four times at once through two
// ledger nodes sharing the database; each gets exactly one purchase, the
// stocks add up and verify is clean.
func TestTwoLedgersQuota(t *testing.T) {
	s1 := openTest(t, Options{})
	s2 := openSame(t, s1)
	keyer, _ := rrntest.Keyer(t) // every node is given the same secret
	clk := clock.NewManual(testenv.Start)
	l1 := newLedger(t, s1, keyer, clk, 2)
	l2 := newLedger(t, s2, keyer, clk, 2)
	codes := setupOutlets(t, l1, 4, 1000)
	ctx := context.Background()
	const buyers, tries = 40, 4
	var ok, rejected atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, buyers*tries)
	for b := range buyers {
		for try := range tries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l := l1
				if try%2 == 1 {
					l = l2
				}
				_, _, err := l.Sell(ctx, ledger.SaleRequest{Outlet: codes[(b+try)%len(codes)], TxnID: fmt.Sprintf("b%d-t%d", b, try), Buyer: buyerID(b), Quantity: 2})
				switch publicmask.ErrorCode(err) {
				case "":
					ok.Add(1)
				case publicmask.EQuotaExceeded:
					rejected.Add(1)
				default:
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("unexpected: %v", err)
	}
	if ok.Load() != buyers || rejected.Load() != buyers*(tries-1) {
		t.Fatalf("%d sales, %d rejections; want %d and %d", ok.Load(), rejected.Load(), buyers, buyers*(tries-1))
	}
	total := 0
	for _, c := range codes {
		o, err := s2.Outlet(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		total += o.Stock
	}
	if want := len(codes)*1000 - 2*buyers; total != want {
		t.Fatalf("stock %d, want %d", total, want)
	}
	rep, err := l2.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("verify: %+v", rep.Violations)
	}
	t.Logf("retries: %d + %d", s1.Retries(), s2.Retries())
}

// TestTwoLedgersSameTxn: one txn_id sent at once through both nodes is
// recorded once, and every answer is that sale (the outlet lock taken with
// the idempotency look-up makes the second wait and replay).
func TestTwoLedgersSameTxn(t *testing.T) {
	s1 := openTest(t, Options{})
	s2 := openSame(t, s1)
	keyer, _ := rrntest.Keyer(t)
	clk := clock.NewManual(testenv.Start)
	l1 := newLedger(t, s1, keyer, clk, 2)
	l2 := newLedger(t, s2, keyer, clk, 2)
	codes := setupOutlets(t, l1, 1, 1000)
	ctx := context.Background()
	const n = 16
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := l1
			if i%2 == 1 {
				l = l2
			}
			r, _, err := l.Sell(ctx, ledger.SaleRequest{Outlet: codes[0], TxnID: "same", Buyer: buyerID(7), Quantity: 2})
			if err != nil {
				t.Errorf("attempt %d: %v", i, err)
				ids <- ""
				return
			}
			ids <- r.SaleID
		}()
	}
	wg.Wait()
	close(ids)
	first := ""
	for id := range ids {
		if first == "" {
			first = id
		}
		if id != first {
			t.Fatalf("two sales for one txn_id: %s and %s", first, id)
		}
	}
	if o, _ := s1.Outlet(ctx, codes[0]); o.Stock != 998 {
		t.Fatalf("stock %d, want 998", o.Stock)
	}
}

// BenchmarkLedgerSales measures durable sales per second through the real
// ledger (group commit, policy checks, HMAC keys) on PostgreSQL, with one
// and four writer goroutines, 2,000 outlets and unique buyers.
//
//	PUBLICMASK_TEST_POSTGRES=$(scripts/pg.sh) go test ./postgres -run '^$' -bench LedgerSales -benchtime 20000x
func BenchmarkLedgerSales(b *testing.B) {
	for _, writers := range []int{1, 4} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := openTest(b, Options{MaxConns: int32(writers + 4)})
			keyer, _ := rrntest.Keyer(b)
			l := newLedger(b, s, keyer, clock.NewManual(testenv.Start), writers)
			codes := setupOutlets(b, l, 2000, 100000)
			ids := make([]string, b.N)
			for i := range ids {
				ids[i] = buyerID(i)
			}
			ctx := context.Background()
			const clients = 512 // concurrent outlet requests, as in a rush
			var next atomic.Int64
			var failed atomic.Int64
			var firstErr atomic.Value
			var wg sync.WaitGroup
			retries := s.Retries()
			b.ResetTimer()
			start := time.Now()
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						_, _, err := l.Sell(ctx, ledger.SaleRequest{Outlet: codes[i%len(codes)], TxnID: fmt.Sprintf("bench-%d", i), Buyer: ids[i], Quantity: 2})
						if err != nil {
							failed.Add(1)
							firstErr.CompareAndSwap(nil, err)
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d of %d sales failed; first: %v", n, b.N, firstErr.Load())
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sales/s")
			b.ReportMetric(float64(s.Retries()-retries), "retries")
		})
	}
}

// TestTwoLedgersLateSalesBeyondStock: late sales beyond the stock arriving
// at once through two ledger nodes are all recorded; stock ends at zero,
// never below; each masks-beyond-stock sale is flagged with its shortfall;
// cancelling them all gives the stock back exactly.
func TestTwoLedgersLateSalesBeyondStock(t *testing.T) {
	s1 := openTest(t, Options{})
	s2 := openSame(t, s1)
	keyer, _ := rrntest.Keyer(t)
	clk := clock.NewManual(testenv.Start)
	l1 := newLedger(t, s1, keyer, clk, 2)
	l2 := newLedger(t, s2, keyer, clk, 2)
	codes := setupOutlets(t, l1, 1, 5)
	ctx := context.Background()
	const n = 20
	receipts := make([]*ledger.Receipt, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := []*ledger.Ledger{l1, l2}[i%2]
			r, _, err := l.Sell(ctx, ledger.SaleRequest{Outlet: codes[0], TxnID: fmt.Sprintf("late-%d", i), Buyer: buyerID(i), Quantity: 1,
				SoldAt: testenv.Start.Add(-time.Hour), Offline: true})
			if err != nil {
				t.Errorf("late sale %d: %v", i, err)
				return
			}
			if r.Outlet.Stock < 0 {
				t.Errorf("late sale %d left stock %d", i, r.Outlet.Stock)
			}
			receipts[i] = r
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	short := 0
	for _, r := range receipts {
		if r.Conflict == publicmask.EOutOfStock {
			short++
		}
	}
	o, _ := s2.Outlet(ctx, codes[0])
	if o.Stock != 0 || short != n-5 {
		t.Fatalf("stock %d with %d sales flagged out_of_stock; want 0 and %d", o.Stock, short, n-5)
	}
	rep, err := l2.Verify(ctx)
	if err != nil || !rep.OK || rep.Conflicts != n-5 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	for i, r := range receipts {
		if _, err := []*ledger.Ledger{l2, l1}[i%2].Cancel(ctx, codes[0], r.SaleID); err != nil {
			t.Fatal(err)
		}
	}
	if o, _ := s1.Outlet(ctx, codes[0]); o.Stock != 5 {
		t.Fatalf("stock after cancelling every late sale: %d, want 5", o.Stock)
	}
	if rep, err := l1.Verify(ctx); err != nil || !rep.OK {
		t.Fatalf("verify after cancels: %+v %v", rep, err)
	}
}

// TestIssueOutletTokensOneRead: tokens for many outlets on PostgreSQL check
// the codes with one MissingOutlets statement, not one outlet read each;
// the codes naming no outlet are listed in their order and get no token,
// the others' tokens authenticate on another node.
func TestIssueOutletTokensOneRead(t *testing.T) {
	s := openTest(t, Options{})
	keyer, _ := rrntest.Keyer(t)
	clk := clock.NewManual(testenv.Start)
	l := newLedger(t, s, keyer, clk, 1)
	codes := setupOutlets(t, l, 3, 10)
	ctx := context.Background()
	if got, err := s.MissingOutlets(ctx, []string{"99999999", codes[1], "88888888", codes[0]}); err != nil || fmt.Sprint(got) != "[99999999 88888888]" {
		t.Fatalf("MissingOutlets: %v %v", got, err)
	}
	ask := []string{codes[2], "99999999", codes[0], "88888888", codes[1]}
	tokens, missing, err := l.IssueOutletTokens(ctx, ask)
	if err != nil || len(tokens) != 3 || fmt.Sprint(missing) != "[99999999 88888888]" {
		t.Fatalf("IssueOutletTokens: %v %v %v", tokens, missing, err)
	}
	other := newLedger(t, openSame(t, s), keyer, clk, 1)
	for _, c := range codes {
		if tok, err := other.Authenticate(ctx, tokens[c]); err != nil || tok.Outlet != c || tok.Role != publicmask.RoleOutlet {
			t.Errorf("%s: %+v %v", c, tok, err)
		}
	}
	if _, err := l.IssueTokens(ctx, publicmask.RoleOutlet, []string{codes[0], "77777777"}); publicmask.ErrorCode(err) != publicmask.ENotFound {
		t.Errorf("IssueTokens with an unknown outlet: %v", err)
	}
}
