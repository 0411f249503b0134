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
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
