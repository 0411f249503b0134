package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/clock"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/rrn/rrntest"
)

// orderStore wraps a store and reports every row a batch locks after its
// Prefetch without having named it there: such a lock is taken out of the
// batches' one global order and can deadlock with another node.
type orderStore struct {
	publicmask.Store
	mu  sync.Mutex
	bad []string
}

func (s *orderStore) Write(ctx context.Context, fn func(publicmask.Tx) error) error {
	return s.Store.Write(ctx, func(tx publicmask.Tx) error {
		return fn(&orderTx{Tx: tx, s: s})
	})
}

func (s *orderStore) report(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bad = append(s.bad, fmt.Sprintf(format, args...))
}

type orderTx struct {
	publicmask.Tx
	s          *orderStore
	prefetched bool
	named      map[string]bool // "o:" outlet, "s:" sale, "w:" week/person
}

func (t *orderTx) Prefetch(r publicmask.BatchReads) error {
	t.prefetched = true
	t.named = make(map[string]bool)
	for _, c := range r.Outlets {
		t.named["o:"+c] = true
	}
	for _, id := range r.Sales {
		t.named["s:"+id] = true
	}
	for w, ps := range r.PersonWeeks {
		for _, p := range ps {
			t.named["w:"+w+"/"+p] = true
		}
	}
	return t.Tx.(publicmask.Prefetcher).Prefetch(r)
}

func (t *orderTx) check(kind, key string) {
	if t.prefetched && !t.named[kind+":"+key] {
		t.s.report("%s %s locked after the prefetch without being named", kind, key)
	}
}

func (t *orderTx) LockOutlet(code string) (publicmask.Outlet, error) {
	t.check("o", code)
	return t.Tx.LockOutlet(code)
}

func (t *orderTx) Sale(id string) (publicmask.Sale, error) {
	t.check("s", id)
	s, err := t.Tx.Sale(id)
	if err == nil && t.named["s:"+id] {
		for _, it := range s.Items {
			t.named["w:"+s.Week+"/"+it.Person] = true // Prefetch locked the sale's weeks
		}
	}
	return s, err
}

func (t *orderTx) PersonWeeks(week string, persons []string) (map[string]publicmask.PersonWeek, error) {
	for _, p := range persons {
		t.check("w", week+"/"+p)
	}
	return t.Tx.PersonWeeks(week, persons)
}

func (t *orderTx) LockOutlets(codes []string) (map[string]publicmask.Outlet, error) {
	for _, c := range codes {
		t.check("o", c)
	}
	return t.Tx.(publicmask.BulkTx).LockOutlets(codes)
}

func (t *orderTx) Idempotencies(keys []publicmask.IdemKey) (map[publicmask.IdemKey]publicmask.IdemRecord, error) {
	for _, k := range keys {
		t.check("o", k.Outlet) // it locks the outlet first
	}
	return t.Tx.(publicmask.BulkTx).Idempotencies(keys)
}

func (t *orderTx) SaveOutlets(os []*publicmask.Outlet) error {
	return t.Tx.(publicmask.BulkTx).SaveOutlets(os)
}

func (t *orderTx) InsertDeliveries(ds []*publicmask.Delivery) error {
	return t.Tx.(publicmask.BulkTx).InsertDeliveries(ds)
}

func (t *orderTx) PutIdempotencies(rs []publicmask.IdemRecord) error {
	return t.Tx.(publicmask.BulkTx).PutIdempotencies(rs)
}

// TestBatchLocksOnlyWhatItPrefetched: the ledger's imports, delivery lists,
// sales and cancellations name to Prefetch every outlet, sale and
// person-week they then lock, so that a batch takes all its locks in the
// one global order (see raceTwoBatches for what happens otherwise).
func TestBatchLocksOnlyWhatItPrefetched(t *testing.T) {
	st := &orderStore{Store: openTest(t, Options{})}
	keyer, _ := rrntest.Keyer(t)
	l := newLedger(t, st, keyer, clock.NewManual(testenv.Start), 1)
	codes := setupOutlets(t, l, 5, 100) // import and delivery list over several outlets
	ctx := context.Background()
	var lines []ledger.DeliveryRequest
	for i, c := range slices.Backward(codes) {
		lines = append(lines, ledger.DeliveryRequest{Outlet: c, Quantity: 10, TxnID: fmt.Sprintf("more-%d", i)})
	}
	if _, err := l.DeliverMany(ctx, lines); err != nil {
		t.Fatal(err)
	}
	r, _, err := l.Sell(ctx, ledger.SaleRequest{Outlet: codes[1], TxnID: "s1", Buyer: buyerID(1), Quantity: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Cancel(ctx, codes[1], r.SaleID); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Cancel(ctx, codes[1], r.SaleID); err != nil { // replayed
		t.Fatal(err)
	}
	if len(st.bad) > 0 {
		t.Fatalf("locks out of the batch order:\n%v", st.bad)
	}
}
