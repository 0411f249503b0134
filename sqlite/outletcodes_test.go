package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/publicmask/publicmask"
)

// TestNewCodesNotRead: a store opened empty knows which codes can have no
// row (outletcodes.go) and does not read them; a code written, even by a
// transaction that rolled back, is read again; a store reopened with rows
// reads every code it does not hold, and finds the rows.
func TestNewCodesNotRead(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pm.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	codes := make([]string, 900)
	for i := range codes {
		codes[i] = fmt.Sprintf("3%07d", i)
	}
	outlets := func(cs []string) []*publicmask.Outlet {
		var os []*publicmask.Outlet
		for _, c := range cs {
			os = append(os, &publicmask.Outlet{Code: c, Name: "약국 " + c, Addr: "서울특별시 중구", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127})
		}
		return os
	}
	// lock reads codes in a transaction and returns how many it found and
	// how many it looked up in the database.
	lock := func(s *Store, cs []string, save []*publicmask.Outlet, fail error) (found, reads int) {
		t.Helper()
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			r0 := s.outletReads
			got, err := tx.(publicmask.BulkTx).LockOutlets(cs)
			if err != nil {
				return err
			}
			found, reads = len(got), s.outletReads-r0
			if len(save) > 0 {
				if err := tx.(publicmask.BulkTx).SaveOutlets(save); err != nil {
					return err
				}
			}
			return fail
		})
		if !errors.Is(err, fail) {
			t.Fatal(err)
		}
		return found, reads
	}
	if found, reads := lock(s, codes, outlets(codes[:300]), errInjected); found != 0 || reads != 0 {
		t.Fatalf("fresh store: found %d, read %d codes; want 0, 0", found, reads)
	}
	// Written by a transaction that rolled back: may have a row, read.
	if found, reads := lock(s, codes[:300], outlets(codes[:600]), nil); found != 0 || reads != 300 {
		t.Fatalf("after a rollback: found %d, read %d; want 0, 300", found, reads)
	}
	if found, reads := lock(s, codes[600:], nil, nil); found != 0 || reads != 0 {
		t.Fatalf("never written: found %d, read %d; want 0, 0", found, reads)
	}
	// One by one: a row written by SaveOutlet is found, a new code not read.
	err = s.Write(ctx, func(tx publicmask.Tx) error {
		if err := tx.SaveOutlet(outlets([]string{"40000001"})[0]); err != nil {
			return err
		}
		r0 := s.outletReads
		if _, err := tx.LockOutlet("40000002"); publicmask.ErrorCode(err) != publicmask.ENotFound {
			return fmt.Errorf("new code: %v", err)
		}
		if s.outletReads != r0 {
			return fmt.Errorf("a new code was read")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.hot.drop() // forgets what it held: every outlet is read again
	if found, reads := lock(s, append([]string{"40000001"}, codes[:700]...), nil, nil); found != 601 || reads != 701 {
		t.Fatalf("after a drop: found %d, read %d; want 601, 701", found, reads)
	}
	s.Close()
	if s, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	if found, reads := lock(s, codes, nil, nil); found != 600 || reads != 900 {
		t.Fatalf("reopened with rows: found %d, read %d; want 600, 900", found, reads)
	}
}
