package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// Lock order after Prefetch. These tests replay, call for call, what
// ledger.commitOnce does on two nodes: node 1's batch prefetches what its
// ops name (see the ledger's reads closures) and then runs an op that
// locks more rows (a DeliverMany/ImportOutlets chunk locks its outlets via
// BulkTx.LockOutlets; a cancel locks its sale and the sale's persons'
// weeks); node 2's batch only prefetches. Node 1's ops must find those rows
// already locked by its prefetch, in the one global order; otherwise the two
// transactions deadlock (40P01, a second of deadlock_timeout, then a retry
// of the whole batch). TestBatchLocksOnlyWhatItPrefetched checks that the
// ledger names those rows.

const lockWeek = "2020-03-09"

func seedPersonWeeks(t *testing.T, s *Store, persons ...string) {
	t.Helper()
	err := s.Write(context.Background(), func(tx publicmask.Tx) error {
		for _, p := range persons {
			if err := tx.PutPersonWeek(publicmask.PersonWeek{Person: p, Week: lockWeek, Usage: publicmask.Usage{Quantity: 1, Purchases: 1}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// race runs node1 and node2; node2 starts once node1's prefetch is done,
// node1's second step runs once node2 is (presumably) blocked.
func raceTwoBatches(t *testing.T, s1, s2 *Store, prefetch1 publicmask.BatchReads, then1 func(tx publicmask.Tx) error, prefetch2 publicmask.BatchReads) {
	t.Helper()
	ctx := context.Background()
	var once sync.Once
	started := make(chan struct{})
	errs := make(chan error, 2)
	go func() {
		errs <- s1.Write(ctx, func(tx publicmask.Tx) error {
			if err := tx.(publicmask.Prefetcher).Prefetch(prefetch1); err != nil {
				return err
			}
			first := false
			once.Do(func() { first = true; close(started) })
			if first {
				time.Sleep(300 * time.Millisecond) // node 2 takes its first lock and waits
			}
			return then1(tx)
		})
	}()
	go func() {
		<-started
		errs <- s2.Write(ctx, func(tx publicmask.Tx) error {
			return tx.(publicmask.Prefetcher).Prefetch(prefetch2)
		})
	}()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := s1.Retries() + s2.Retries(); n != 0 {
		t.Fatalf("%d retries: the two batches deadlocked (locks not taken in one global order)", n)
	}
}

// Node 1: batch [DeliverMany chunk over A and C (op.outlet A), sale at M for
// p]; the chunk names A and C. Node 2: batch [sale at C for p].
func TestBulkDeliveriesBesideSalesDoNotDeadlock(t *testing.T) {
	s1 := openTest(t, Options{})
	s2 := openSame(t, s1)
	seedOutlets(t, s1, "A", "C", "M")
	seedPersonWeeks(t, s1, "p")
	raceTwoBatches(t, s1, s2,
		publicmask.BatchReads{Outlets: []string{"A", "A", "C", "M"}, PersonWeeks: map[string][]string{lockWeek: {"p"}}},
		func(tx publicmask.Tx) error {
			got, err := tx.(publicmask.BulkTx).LockOutlets([]string{"A", "C"})
			if err == nil && len(got) != 2 {
				t.Errorf("LockOutlets(A, C) = %v", got)
			}
			return err
		},
		publicmask.BatchReads{Outlets: []string{"C"}, PersonWeeks: map[string][]string{lockWeek: {"p"}}})
}

// Node 1: batch [cancel at A of a sale to p1, sale at B for p2]; the cancel
// names its sale. Node 2: batch [sale at C for p1 and p2].
func TestCancelBesideSalesDoesNotDeadlock(t *testing.T) {
	s1 := openTest(t, Options{})
	s2 := openSame(t, s1)
	seedOutlets(t, s1, "A", "B", "C")
	seedPersonWeeks(t, s1, "p1", "p2")
	at := time.Date(2020, 3, 11, 1, 0, 0, 0, time.UTC)
	err := s1.Write(context.Background(), func(tx publicmask.Tx) error {
		return tx.InsertSale(&publicmask.Sale{ID: "s1", Outlet: "A", TxnID: "t1", SoldAt: at, RecordedAt: at, Week: lockWeek, Quantity: 1,
			Items: []publicmask.SaleItem{{Role: "buyer", Person: "p1", Category: "adult", BirthYear: 1983, Quantity: 1}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	raceTwoBatches(t, s1, s2,
		publicmask.BatchReads{Outlets: []string{"A", "B"}, Sales: []string{"s1"}, PersonWeeks: map[string][]string{lockWeek: {"p2"}}},
		func(tx publicmask.Tx) error { // cancelSale: the sale, then giveBack
			s, err := tx.Sale("s1")
			if err != nil {
				return err
			}
			if len(s.Items) != 1 || s.Items[0].Person != "p1" {
				t.Errorf("Sale(s1) = %+v", s)
			}
			m, err := tx.PersonWeeks(lockWeek, []string{"p1"})
			if err == nil && m["p1"].Quantity != 1 {
				t.Errorf("PersonWeeks(p1) = %+v", m)
			}
			return err
		},
		publicmask.BatchReads{Outlets: []string{"C"}, PersonWeeks: map[string][]string{lockWeek: {"p1", "p2"}}})
}

// TestBulkIdempotenciesUpdateTheCache: BulkTx.PutIdempotencies (DeliverMany's
// bulk path) updates the idempotency records Prefetch read: a later
// Idempotency of the same key in the same transaction sees the record.
// Otherwise a sale whose txn_id a delivery line of the same batch used
// writes its own record, the batch fails on idempotency_pkey (not a
// retryable conflict) and every op of the batch is re-run alone.
func TestBulkIdempotenciesUpdateTheCache(t *testing.T) {
	s := openTest(t, Options{})
	seedOutlets(t, s, "A")
	ctx := context.Background()
	at := time.Date(2020, 3, 11, 1, 0, 0, 0, time.UTC)
	err := s.Write(ctx, func(tx publicmask.Tx) error {
		k := publicmask.IdemKey{Outlet: "A", TxnID: "t1"}
		if err := tx.(publicmask.Prefetcher).Prefetch(publicmask.BatchReads{Outlets: []string{"A"}, Idem: []publicmask.IdemKey{k}}); err != nil {
			return err
		}
		if err := tx.(publicmask.BulkTx).PutIdempotencies([]publicmask.IdemRecord{{Outlet: "A", TxnID: "t1", BodyHash: "delivery", Response: []byte(`{}`), CreatedAt: at}}); err != nil {
			return err
		}
		_, ok, err := tx.Idempotency("A", "t1")
		if err != nil {
			return err
		}
		if !ok {
			t.Errorf("Idempotency(A, t1) after PutIdempotencies in the same transaction: absent (stale Prefetch cache)")
		}
		// The bulk look-up sees it too, and what it reads is remembered.
		m, err := tx.(publicmask.BulkTx).Idempotencies([]publicmask.IdemKey{k, {Outlet: "A", TxnID: "t2"}})
		if err != nil {
			return err
		}
		if m[k].BodyHash != "delivery" || len(m) != 1 {
			t.Errorf("Idempotencies(t1, t2) = %+v", m)
		}
		if err := tx.PutIdempotency(publicmask.IdemRecord{Outlet: "A", TxnID: "t2", BodyHash: "sale", Response: []byte(`{}`), CreatedAt: at}); err != nil {
			return err
		}
		if r, ok, err := tx.Idempotency("A", "t2"); err != nil || !ok || r.BodyHash != "sale" {
			t.Errorf("Idempotency(A, t2) after PutIdempotency = %+v, %v, %v", r, ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPrefetchedSaleFollowsOwnWrites: a sale Prefetch locked is answered
// from memory as this transaction left it (a second cancellation in the
// same batch sees the first), a named sale not yet stored (inserted later
// in the batch) is read from the store, and the weeks of the sale's
// persons are known without another read.
func TestPrefetchedSaleFollowsOwnWrites(t *testing.T) {
	s := openTest(t, Options{})
	seedOutlets(t, s, "A")
	seedPersonWeeks(t, s, "p1")
	ctx := context.Background()
	at := time.Date(2020, 3, 11, 1, 0, 0, 0, time.UTC)
	sale := func(id, person string) *publicmask.Sale {
		return &publicmask.Sale{ID: id, Outlet: "A", TxnID: "t" + id, SoldAt: at, RecordedAt: at, Week: lockWeek, Quantity: 1,
			Items: []publicmask.SaleItem{{Role: "buyer", Person: person, Category: "adult", BirthYear: 1983, Quantity: 1}}}
	}
	if err := s.Write(ctx, func(tx publicmask.Tx) error { return tx.InsertSale(sale("s1", "p1")) }); err != nil {
		t.Fatal(err)
	}
	cancelled := at.Add(time.Hour)
	err := s.Write(ctx, func(x publicmask.Tx) error {
		if err := x.(publicmask.Prefetcher).Prefetch(publicmask.BatchReads{Outlets: []string{"A"}, Sales: []string{"s2", "s1"}}); err != nil {
			return err
		}
		ptx := x.(*tx)
		if exists, known := ptx.pw[pwKey{"p1", lockWeek}]; !known || !exists {
			t.Errorf("the week of s1's person is not known after Prefetch (known %v, exists %v)", known, exists)
		}
		if err := x.InsertSale(sale("s2", "p2")); err != nil {
			return err
		}
		for i, id := range []string{"s1", "s1", "s2"} {
			got, err := x.Sale(id)
			if err != nil {
				return err
			}
			if want := i == 1; got.CancelledAt.IsZero() == want || len(got.Items) != 1 {
				t.Errorf("read %d of %s: %+v", i, id, got)
			}
			if i == 0 {
				if err := x.MarkSaleCancelled(id, cancelled); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
