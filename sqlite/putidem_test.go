package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/publicmask/publicmask"
)

var errRollBack = errors.New("roll back")

// BenchmarkPutIdempotencies is a delivery list chunk's records held by a
// bulk transaction (2,000, each put into the idempotency filter), rolled
// back: `go test ./sqlite -run '^$' -bench PutIdempotencies -benchmem`.
func BenchmarkPutIdempotencies(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "pm.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	recs := make([]publicmask.IdemRecord, 2000)
	for i := range recs {
		recs[i] = publicmask.IdemRecord{Outlet: fmt.Sprintf("%08d", 10000000+i), TxnID: "open-2020-03-11", BodyHash: "h", CreatedAt: tRec}
	}
	b.ResetTimer()
	for range b.N {
		err := s.Write(context.Background(), func(tx publicmask.Tx) error {
			if err := tx.(publicmask.BulkTx).PutIdempotencies(recs); err != nil {
				return err
			}
			return errRollBack
		})
		if !errors.Is(err, errRollBack) {
			b.Fatal(err)
		}
	}
}

// TestPutIdempotenciesFilterKnowsAll: a bulk put's records are in the
// idempotency filter before the commit, those before a duplicate too
// (the put fails there; the filter may only err towards "maybe").
func TestPutIdempotenciesFilterKnowsAll(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "pm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.hot.mu.Lock()
	s.hot.idem = newWeekFilter(1 << 12)
	s.hot.mu.Unlock()
	var recs []publicmask.IdemRecord
	for i := range 600 { // more than one step of noteRecords
		recs = append(recs, publicmask.IdemRecord{Outlet: fmt.Sprintf("%08d", 10000000+i), TxnID: "t", BodyHash: "h", CreatedAt: tRec})
	}
	recs = append(recs, recs[7]) // a duplicate: the put fails there
	err = s.Write(context.Background(), func(tx publicmask.Tx) error {
		err := tx.(publicmask.BulkTx).PutIdempotencies(recs)
		if err == nil {
			t.Error("a duplicate record put")
		}
		return errRollBack
	})
	if !errors.Is(err, errRollBack) {
		t.Fatal(err)
	}
	s.hot.mu.Lock()
	defer s.hot.mu.Unlock()
	for _, r := range recs {
		if !s.hot.idem.mayHaveHash(idemHash(r.Outlet, r.TxnID)) {
			t.Fatalf("%s/%s is not in the filter", r.Outlet, r.TxnID)
		}
	}
}
