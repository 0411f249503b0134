package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/rrn/rrntest"
)

// stalledStore holds every write until released (a database partitioned
// away: nothing arrives, nothing is refused).
type stalledStore struct {
	publicmask.Store
	release chan struct{}
}

func (s *stalledStore) Write(ctx context.Context, fn func(publicmask.Tx) error) error {
	<-s.release
	return s.Store.Write(ctx, fn)
}

// A request whose op the store does not decide within OutcomeWait is
// answered 503 store_unavailable then (DESIGN.md §4: before the counter's
// 3 s cutoff), and the op goes on: a sale whose request is still there
// when the store comes back commits, and its txn_id's retry gets the
// first answer; one whose request ended while its batch waited in the
// queue records nothing, and its retry records it once. Nobody exceeds
// the quota.
func TestOutcomeWait(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 100)
	st := &stalledStore{Store: e.Store, release: make(chan struct{})}
	keyer, _ := rrntest.Keyer(t)
	const wait = 200 * time.Millisecond
	l, err := ledger.New(ledger.Config{Store: st, Policy: policy.NewHolder(policy.Standard()), Keyer: keyer, Clock: e.Clock, OutcomeWait: wait})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	b1, b2 := testenv.Born(1983, 1), testenv.Born(1983, 2)
	req := func(txn, buyer string) ledger.SaleRequest {
		return ledger.SaleRequest{Outlet: "10000001", TxnID: txn, Buyer: buyer, Quantity: 1}
	}

	// The first batch holds the (one) writer; the second sale waits in
	// the queue behind it, and its request ends after its answer.
	t0 := time.Now()
	_, _, err1 := l.Sell(ctx, req("held", b1))
	took := time.Since(t0)
	if code(err1) != publicmask.EStoreUnavailable || took < wait || took > wait+time.Second {
		t.Fatalf("sale on a stalled store: %v after %v, want store_unavailable after %v", err1, took, wait)
	}
	gone, cancel := context.WithCancel(ctx)
	_, _, err2 := l.Sell(gone, req("left", b2))
	cancel()
	if code(err2) != publicmask.EStoreUnavailable {
		t.Fatalf("queued sale on a stalled store: %v", err2)
	}
	close(st.release)

	// The held sale committed when the store came back: its retry is the
	// first answer again, and the buyer's next sale is over the quota.
	var r *ledger.Receipt
	var replayed bool
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, replayed, err = l.Sell(ctx, req("held", b1))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || !replayed {
		t.Fatalf("retry of the held sale: replayed %v, %v; want its first answer", replayed, err)
	}
	if _, _, err := l.Sell(ctx, req("held-2", b1)); code(err) != publicmask.EQuotaExceeded {
		t.Errorf("another sale to the held sale's buyer: %v, want quota_exceeded", err)
	}
	// The sale whose request had ended recorded nothing: its retry records it.
	r2, replayed2, err := l.Sell(ctx, req("left", b2))
	if err != nil || replayed2 || r2.SaleID == r.SaleID {
		t.Fatalf("retry of the sale whose request ended: replayed %v, %v; want it recorded now", replayed2, err)
	}
	if r3, replayed3, err := l.Sell(ctx, req("left", b2)); err != nil || !replayed3 || r3.SaleID != r2.SaleID {
		t.Errorf("second retry: %v %v %v", r3, replayed3, err)
	}
	rep, err := l.Verify(ctx)
	if err != nil || !rep.OK {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

// due is a request's answer's due time, as the HTTP layer's contexts carry
// it (ledger.DueKey).
type due time.Time

func (d due) Due() time.Time { return time.Time(d) }

func withDue(t time.Time) context.Context {
	return context.WithValue(ctx, ledger.DueKey{}, due(t))
}

// TestOutcomeWaitDue: the ledger's wait for an outcome ends when the
// request's answer is due (counted from its arrival, before the ledger got
// it), when that comes before OutcomeWait: the time left is used, not a
// fresh OutcomeWait. A request whose answer was due already is refused at
// once (503 overloaded) and queues nothing: its retry records the sale. A
// context's deadline bounds the wait the same way. A check shares the
// bound.
func TestOutcomeWaitDue(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 100)
	st := &stalledStore{Store: e.Store, release: make(chan struct{})}
	keyer, _ := rrntest.Keyer(t)
	l, err := ledger.New(ledger.Config{Store: st, Policy: policy.NewHolder(policy.Standard()), Keyer: keyer, Clock: e.Clock, OutcomeWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	req := func(txn string, n int) ledger.SaleRequest {
		return ledger.SaleRequest{Outlet: "10000001", TxnID: txn, Buyer: testenv.Born(1983, n), Quantity: 1}
	}
	timed := func(f func() error) (time.Duration, error) {
		t0 := time.Now()
		err := f()
		return time.Since(t0), err
	}

	d, err := timed(func() error {
		_, _, err := l.Sell(withDue(time.Now().Add(-time.Millisecond)), req("spent", 1))
		return err
	})
	if code(err) != publicmask.EOverloaded || d > 50*time.Millisecond {
		t.Errorf("sale due already: %v after %v, want overloaded at once", err, d)
	}
	d, err = timed(func() error { _, err := l.Check(withDue(time.Now().Add(-time.Millisecond)), req("", 1)); return err })
	if code(err) != publicmask.EOverloaded || d > 50*time.Millisecond {
		t.Errorf("check due already: %v after %v, want overloaded at once", err, d)
	}
	d, err = timed(func() error {
		_, _, err := l.Sell(withDue(time.Now().Add(150*time.Millisecond)), req("due", 2))
		return err
	})
	if code(err) != publicmask.EStoreUnavailable || d < 140*time.Millisecond || d > time.Second {
		t.Errorf("sale due in 150 ms on a stalled store: %v after %v, want store_unavailable then, not after OutcomeWait (5 s)", err, d)
	}
	dctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	d, err = timed(func() error { _, _, err := l.Sell(dctx, req("deadline", 3)); return err })
	cancel()
	if code(err) != publicmask.EStoreUnavailable || d < 140*time.Millisecond || d > time.Second {
		t.Errorf("sale with a 150 ms deadline on a stalled store: %v after %v, want store_unavailable then", err, d)
	}
	// A due time later than OutcomeWait does not lengthen it (the
	// store released: the sale commits at once).
	close(st.release)
	if _, _, err := l.Sell(withDue(time.Now().Add(time.Hour)), req("later", 4)); err != nil {
		t.Fatalf("sale due in an hour: %v", err)
	}
	// The sale refused at once was never queued: its retry records it.
	if _, replayed, err := l.Sell(ctx, req("spent", 1)); err != nil || replayed {
		t.Errorf("retry of the sale due already: replayed %v, %v; want it recorded now", replayed, err)
	}
	rep, err := l.Verify(ctx)
	if err != nil || !rep.OK {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

// stalledReads holds every read of an outlet, its sales or person-weeks
// until its context ends (a partitioned PostgreSQL's reads).
type stalledReads struct{ publicmask.Store }

func (s stalledReads) Outlet(ctx context.Context, code string) (publicmask.Outlet, error) {
	<-ctx.Done()
	return publicmask.Outlet{}, ctx.Err()
}

func (s stalledReads) RecentSales(ctx context.Context, outlet string, limit int) ([]publicmask.Sale, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestReadsWithinDue: the counter's reads of the store (its outlet, its
// recent sales, a check) end when the request's answer is due, 503
// store_unavailable, rather than when the store's own timeouts say.
func TestReadsWithinDue(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 100)
	keyer, _ := rrntest.Keyer(t)
	l, err := ledger.New(ledger.Config{Store: stalledReads{e.Store}, Policy: policy.NewHolder(policy.Standard()), Keyer: keyer, Clock: e.Clock, OutcomeWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	for name, read := range map[string]func(context.Context) error{
		"outlet":       func(ctx context.Context) error { _, err := l.Outlet(ctx, "10000001"); return err },
		"recent sales": func(ctx context.Context) error { _, err := l.RecentSales(ctx, "10000001", 5); return err },
		"check": func(ctx context.Context) error {
			_, err := l.Check(ctx, ledger.SaleRequest{Outlet: "10000001", Buyer: testenv.Born(1983, 1), Quantity: 1})
			return err
		},
	} {
		t0 := time.Now()
		err := read(withDue(time.Now().Add(150 * time.Millisecond)))
		if d := time.Since(t0); code(err) != publicmask.EStoreUnavailable || d < 140*time.Millisecond || d > time.Second {
			t.Errorf("%s due in 150 ms on a stalled store: %v after %v, want store_unavailable then", name, err, d)
		}
	}
}
