package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

func putRecords(s *Store, keys ...string) error {
	return s.Write(context.Background(), func(tx publicmask.Tx) error {
		for _, k := range keys {
			r := publicmask.IdemRecord{Outlet: "00000001", TxnID: k, BodyHash: "h-" + k, Response: []byte(`{"k":"` + k + `"}`), CreatedAt: time.Unix(1e9, 0)}
			if err := tx.PutIdempotency(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// lookUp reads keys through a write transaction (as a batch does) and
// returns the ones with a record.
func lookUp(t *testing.T, s *Store, keys ...string) map[string]bool {
	t.Helper()
	found := map[string]bool{}
	err := s.Write(context.Background(), func(tx publicmask.Tx) error {
		ks := make([]publicmask.IdemKey, len(keys))
		for i, k := range keys {
			ks[i] = publicmask.IdemKey{Outlet: "00000001", TxnID: k}
		}
		if err := tx.(publicmask.Prefetcher).Prefetch(publicmask.BatchReads{Idem: ks}); err != nil {
			return err
		}
		for _, k := range keys {
			r, ok, err := tx.Idempotency("00000001", k)
			if err != nil {
				return err
			}
			if ok && r.BodyHash != "h-"+k {
				return fmt.Errorf("record of %s: %+v", k, r)
			}
			found[k] = ok
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func waitIdemFilter(t *testing.T, s *Store) *weekFilter {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.hot.mu.RLock()
		f := s.hot.idem
		s.hot.mu.RUnlock()
		if f != nil && f.bits != nil {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatal("the records' filter was not installed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestIdemFilterNeverHidesARecord: records committed before a start, during
// the filter's build and after it are all found; a txn_id without a record
// is known absent without a look-up once the filter is built; a record
// whose commit failed is not found, and its txn_id can be recorded again.
func TestIdemFilterNeverHidesARecord(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pm.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := putRecords(s, "before-1", "before-2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	inScan, release := make(chan struct{}), make(chan struct{})
	idemBuildHook = func() { close(inScan); <-release }
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	<-inScan
	idemBuildHook = nil
	if err := putRecords(s, "during"); err != nil {
		t.Fatal(err)
	}
	if got := lookUp(t, s, "before-1", "during", "none"); !got["before-1"] || !got["during"] || got["none"] {
		t.Fatalf("during the build: %v", got)
	}
	close(release)
	f := waitIdemFilter(t, s)
	if err := putRecords(s, "after"); err != nil {
		t.Fatal(err)
	}
	all := []string{"before-1", "before-2", "during", "after"}
	for _, k := range all {
		if !f.mayHaveHash(idemHash("00000001", k)) {
			t.Errorf("the filter misses the record of %s", k)
		}
	}
	if got := lookUp(t, s, append(all, "none")...); len(got) != 5 || got["none"] || !got["before-1"] || !got["before-2"] || !got["during"] || !got["after"] {
		t.Fatalf("after the build: %v", got)
	}
	maybe := 0
	for i := range 10_000 {
		if f.mayHaveHash(idemHash("00000001", fmt.Sprint("fresh-", i))) {
			maybe++
		}
	}
	if maybe > 10 {
		t.Errorf("%d of 10,000 new txn_ids would be looked up", maybe)
	}

	s.failCommit = func() error { return errInjected }
	err = putRecords(s, "failed")
	s.failCommit = nil
	if publicmask.ErrorCode(err) != publicmask.EStoreUnavailable {
		t.Fatalf("failed commit: %v", err)
	}
	s.hot.mu.RLock()
	dropped := s.hot.idem == nil
	s.hot.mu.RUnlock()
	if !dropped {
		t.Fatal("the records' filter survived a failed commit")
	}
	if got := lookUp(t, s, "failed", "after"); got["failed"] || !got["after"] {
		t.Fatalf("after the failed commit: %v", got)
	}
	if err := putRecords(s, "failed"); err != nil {
		t.Fatalf("recording the txn_id of a failed commit again: %v", err)
	}
	f = waitIdemFilter(t, s)
	if got := lookUp(t, s, all...); len(got) != 4 || !got["before-1"] || !got["before-2"] || !got["during"] || !got["after"] {
		t.Fatalf("after the rebuild: %v", got)
	}
	if !f.mayHaveHash(idemHash("00000001", "failed")) {
		t.Error("the rebuilt filter misses a record")
	}
	if err := putRecords(s, "after"); err == nil {
		t.Error("a second record of a txn_id was accepted")
	}
}

// TestIdemFilterRebuiltWhenFull: a filter over its capacity goes on
// answering while a larger one is built, and no record is missed across
// the rebuilds.
func TestIdemFilterRebuiltWhenFull(t *testing.T) {
	defer func(old uint64) { filterMinBits = old }(filterMinBits)
	filterMinBits = 64 // full after 8 keys
	s := openTest(t)
	var all []string
	for round := range 6 {
		keys := make([]string, 10)
		for i := range keys {
			keys[i] = fmt.Sprintf("r%d-%d", round, i)
		}
		if err := putRecords(s, keys...); err != nil {
			t.Fatal(err)
		}
		all = append(all, keys...)
		got := lookUp(t, s, append(all, "none")...)
		for _, k := range all {
			if !got[k] {
				t.Fatalf("round %d: the record of %s was not found", round, k)
			}
		}
		if got["none"] {
			t.Fatalf("round %d: a txn_id without a record was found", round)
		}
	}
	f := waitIdemFilter(t, s)
	for _, k := range all {
		if !f.mayHaveHash(idemHash("00000001", k)) {
			t.Errorf("the rebuilt filter misses %s", k)
		}
	}
}
