package sqlite

import (
	"context"
	"database/sql"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// TestSaleOutletTypeMigrates: migration 00017 gives sales the outlet type
// they were judged with. A sale recorded before it reads back without one
// (verify then takes the outlet's current type), one recorded after with
// its own; the Down section takes the column away again, and a writer of
// before 00017 still inserts its sales.
func TestSaleOutletTypeMigrates(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pm.db")
	db := migratedBefore(t, path, "00017")
	for _, q := range []string{
		`INSERT INTO outlet_registry (id, code, name, addr, type, lat, lng) VALUES (1, '10000001', '약국', '서울', '01', 37.5, 127)`,
		`INSERT INTO outlets (code, reg, stock, version) VALUES ('10000001', 1, 100, 1)`,
		`INSERT INTO outlet_changes (version, code) VALUES (1, '10000001')`,
		`INSERT INTO sales (id, outlet, txn_id, sold_at, recorded_at, week, weekend, quantity) VALUES ('old', '10000001', 'txn-old', 1, 1, '2020-03-09', 0, 1)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, func(tx publicmask.Tx) error {
		return tx.InsertSale(&publicmask.Sale{ID: "new", Outlet: "10000001", TxnID: "txn-new", SoldAt: tRec, RecordedAt: tRec, Week: "2020-03-09", Quantity: 1,
			OutletType: publicmask.TypePost, Items: []publicmask.SaleItem{{Role: "buyer", Person: hexKey(1), BirthYear: 1983, Quantity: 1}}})
	}); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	if err := s.SalesSince(ctx, time.Time{}, func(x publicmask.Sale) error { got[x.ID] = x.OutletType; return nil }); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"old": "", "new": publicmask.TypePost}; !maps.Equal(got, want) {
		t.Fatalf("outlet types after 00017: %v, want %v", got, want)
	}
	s.Close()

	src, err := migrations.ReadFile("migrations/00017_sale_outlet_type.sql")
	if err != nil {
		t.Fatal(err)
	}
	_, down, _ := strings.Cut(string(src), "-- +goose Down")
	db, err = sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(down); err != nil {
		t.Fatalf("00017 Down: %v", err)
	}
	if _, err := db.Exec(`SELECT outlet_type FROM sales`); err == nil {
		t.Fatal("sales.outlet_type is still there after 00017's Down")
	}
	if _, err := db.Exec(`INSERT INTO sales (id, outlet, txn_id, sold_at, recorded_at, week, weekend, quantity) VALUES ('older', '10000001', 'txn-older', 2, 2, '2020-03-09', 0, 1)`); err != nil {
		t.Fatalf("a writer of before 00017 after its Down: %v", err)
	}
}
