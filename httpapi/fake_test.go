package httpapi

import (
	"cmp"
	"context"
	"strings"
	"sync"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/ledger"
)

// fakeLedger records what the handlers pass and answers from fields; the
// end-to-end tests use the real ledger.
type fakeLedger struct {
	mu      sync.Mutex
	now     time.Time
	tokens  map[string]publicmask.Token
	outlets map[string]bool
	sales   []ledger.SaleRequest
	calls   []string // "method outlet"
	err     error    // returned by every ledger call when set
	// block, when set, is waited on by Outlet (to hold a request in flight).
	block chan struct{}
	// entered is signalled when Outlet starts.
	entered  chan struct{}
	imported []publicmask.Outlet
}

func newFake() *fakeLedger {
	return &fakeLedger{
		now: time.Date(2020, 3, 11, 10, 0, 0, 0, publicmask.Seoul),
		tokens: map[string]publicmask.Token{
			"admin": {Role: publicmask.RoleAdmin},
			"dist":  {Role: publicmask.RoleDistributor},
			"tokA":  {Role: publicmask.RoleOutlet, Outlet: "A0000001"},
			"tokB":  {Role: publicmask.RoleOutlet, Outlet: "B0000002"},
		},
		outlets: map[string]bool{"A0000001": true, "B0000002": true},
	}
}

func (f *fakeLedger) call(name, outlet string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name+" "+outlet)
	return f.err
}

func (f *fakeLedger) lastCall() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeLedger) Now() time.Time { return f.now }

func (f *fakeLedger) Sell(ctx context.Context, req ledger.SaleRequest) (*ledger.Receipt, bool, error) {
	if err := f.call("Sell", req.Outlet); err != nil {
		return nil, false, err
	}
	// The domain's validation, as the ledger runs it.
	if err := ledger.CheckTxnID("txn_id", req.TxnID); err != nil {
		return nil, false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	replayed := false
	for _, s := range f.sales {
		if s.Outlet == req.Outlet && s.TxnID == req.TxnID {
			replayed = true
		}
	}
	if !replayed {
		f.sales = append(f.sales, req)
	}
	rem := 0
	return &ledger.Receipt{SaleID: "s-" + req.TxnID, SoldAt: f.now,
		Items:  []ledger.ReceiptItem{{Role: "buyer", Quantity: req.Quantity, RemainingThisWeek: &rem}},
		Outlet: ledger.StockView{Stock: 10, RemainStat: "few"}}, replayed, nil
}

func (f *fakeLedger) Check(ctx context.Context, req ledger.SaleRequest) (*ledger.CheckResult, error) {
	if err := f.call("Check", req.Outlet); err != nil {
		return nil, err
	}
	return &ledger.CheckResult{Eligible: true, Persons: []ledger.CheckPerson{{Role: "buyer", Eligible: true}}}, nil
}

func (f *fakeLedger) Cancel(ctx context.Context, outlet, saleID string) (*ledger.CancelReceipt, error) {
	if err := f.call("Cancel", outlet); err != nil {
		return nil, err
	}
	return &ledger.CancelReceipt{SaleID: saleID}, nil
}

func (f *fakeLedger) Deliver(ctx context.Context, outlet, txnID string, qty int) (*ledger.StockReceipt, bool, error) {
	return f.stockWrite("Deliver", outlet, txnID, qty, ledger.CheckDelivery, false)
}

func (f *fakeLedger) DeliverMany(ctx context.Context, lines []ledger.DeliveryRequest) ([]ledger.DeliveryResult, error) {
	if err := f.call("DeliverMany", ""); err != nil {
		return nil, err
	}
	var out []ledger.DeliveryResult
	for _, l := range lines {
		r := ledger.DeliveryResult{Outlet: l.Outlet, TxnID: l.TxnID}
		if err := ledger.CheckDelivery(l.Quantity); err != nil {
			r.Error = err
		} else if !f.outlets[l.Outlet] {
			r.Error = publicmask.Errorf(publicmask.ENotFound, "no such outlet")
		} else {
			r.Receipt = &ledger.StockReceipt{Outlet: l.Outlet, Stock: l.Quantity}
		}
		out = append(out, r)
	}
	return out, nil
}

func (f *fakeLedger) CorrectStock(ctx context.Context, outlet, txnID string, count int) (*ledger.StockReceipt, bool, error) {
	return f.stockWrite("CorrectStock", outlet, txnID, count, ledger.CheckCount, true)
}

// stockWrite answers a delivery or a stock correction: the outlet's stock
// becomes n, once the ledger's own checks pass.
func (f *fakeLedger) stockWrite(method, outlet, txnID string, n int, check func(int) error, replayed bool) (*ledger.StockReceipt, bool, error) {
	if err := f.call(method, outlet); err != nil {
		return nil, false, err
	}
	if err := cmp.Or(ledger.CheckTxnID("txn_id", txnID), check(n)); err != nil {
		return nil, false, err
	}
	return &ledger.StockReceipt{Outlet: outlet, Stock: n}, replayed, nil
}

func (f *fakeLedger) SetSuspended(ctx context.Context, outlet string, on bool) (*ledger.OutletView, error) {
	if err := f.call("SetSuspended", outlet); err != nil {
		return nil, err
	}
	return &ledger.OutletView{Code: outlet, Suspended: on}, nil
}

func (f *fakeLedger) Outlet(ctx context.Context, code string) (*ledger.OutletView, error) {
	if err := f.call("Outlet", code); err != nil {
		return nil, err
	}
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.block != nil {
		<-f.block
	}
	return &ledger.OutletView{Code: code}, nil
}

func (f *fakeLedger) RecentSales(ctx context.Context, outlet string, limit int) ([]publicmask.Sale, error) {
	if err := f.call("RecentSales", outlet); err != nil {
		return nil, err
	}
	return []publicmask.Sale{
		{ID: "s1", Outlet: outlet, SoldAt: f.now, Quantity: 2, Items: []publicmask.SaleItem{{Role: "buyer", Person: "PERSONKEY", Quantity: 2}}},
		{ID: "s2", Outlet: outlet, SoldAt: f.now, Quantity: 1, CancelledAt: f.now},
	}, nil
}

func (f *fakeLedger) ImportOutlets(ctx context.Context, outlets []publicmask.Outlet) (int, error) {
	if err := f.call("ImportOutlets", ""); err != nil {
		return 0, err
	}
	f.mu.Lock()
	f.imported = outlets
	f.mu.Unlock()
	return len(outlets), nil
}

func (f *fakeLedger) IssueToken(ctx context.Context, role, outlet string) (string, error) {
	if err := f.call("IssueToken", outlet); err != nil {
		return "", err
	}
	if role == publicmask.RoleOutlet && !f.outlets[outlet] {
		return "", publicmask.Errorf(publicmask.ENotFound, "no such outlet")
	}
	return "tok-" + role + "-" + outlet, nil
}

func (f *fakeLedger) IssueOutletTokens(ctx context.Context, codes []string) (map[string]string, []string, error) {
	if err := f.call("IssueOutletTokens", strings.Join(codes, ",")); err != nil {
		return nil, nil, err
	}
	tokens := map[string]string{}
	var missing []string
	for _, c := range codes {
		if f.outlets[c] {
			tokens[c] = "tok-" + publicmask.RoleOutlet + "-" + c
		} else {
			missing = append(missing, c)
		}
	}
	return tokens, missing, nil
}

// CachedToken: the fake has no cache; Authenticate answers every token.
func (f *fakeLedger) CachedToken(string) (publicmask.Token, ledger.OutletRef, bool, error) {
	return publicmask.Token{}, 0, false, nil
}

func (f *fakeLedger) CachedTokenSum([32]byte) (publicmask.Token, ledger.OutletRef, bool, error) {
	return publicmask.Token{}, 0, false, nil
}

func (f *fakeLedger) Authenticate(ctx context.Context, token string) (publicmask.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tokens[token]
	if !ok {
		return publicmask.Token{}, publicmask.Errorf(publicmask.EUnauthorized, "unknown token")
	}
	return t, nil
}

func (f *fakeLedger) RevokeToken(ctx context.Context, token string) error {
	return f.call("RevokeToken", "")
}

func (f *fakeLedger) Verify(ctx context.Context) (*ledger.VerifyReport, error) {
	if err := f.call("Verify", ""); err != nil {
		return nil, err
	}
	return &ledger.VerifyReport{OK: true}, nil
}

func (f *fakeLedger) NoteActivity(outlet string) {}

func (f *fakeLedger) NoteActivityRef(ledger.OutletRef) {}

func (f *fakeLedger) LateSaleCounts(ctx context.Context) ([]publicmask.LateSaleCount, error) {
	return nil, f.call("LateSaleCounts", "")
}

func (f *fakeLedger) Conflicts(ctx context.Context, limit int) ([]publicmask.Sale, error) {
	if err := f.call("Conflicts", ""); err != nil {
		return nil, err
	}
	return []publicmask.Sale{{ID: "s9", Outlet: "A0000001", Conflict: "quota_exceeded", Quantity: 2,
		Items: []publicmask.SaleItem{{Role: "buyer", Person: "PERSONKEY", BirthYear: 1983, Quantity: 2}}}}, nil
}
