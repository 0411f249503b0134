package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// A sale's hash is kept as its 32 bytes since schema 15's binaries (as a
// delivery's since 00014), with no migration of its own: 00014's Down turns
// the sales' blobs back into the text a binary before it reads, or every
// retry of a sale recorded since would be refused as a conflict after a
// downgrade (found by a review).
func TestDown14GivesSalesTheirHashText(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	t0 := time.Unix(1583884800, 0).UTC()
	sum := sha256.Sum256([]byte("body"))
	hash := hex.EncodeToString(sum[:])
	if err := s.Write(ctx, func(w publicmask.Tx) error {
		if err := w.SaveOutlet(&publicmask.Outlet{Code: "10000001", Name: "약국", Addr: "서울", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127, Stock: 10, UpdatedAt: t0}); err != nil {
			return err
		}
		if err := w.PutIdempotency(publicmask.IdemRecord{Outlet: "10000001", TxnID: "t1", BodyHash: hash, Response: []byte(`{"sale_id":"s1"}`), CreatedAt: t0}); err != nil {
			return err
		}
		return w.InsertSale(&publicmask.Sale{ID: "s1", Outlet: "10000001", TxnID: "t1", SoldAt: t0, RecordedAt: t0, Week: "2020-03-09", Quantity: 1,
			Items: []publicmask.SaleItem{{Role: "buyer", Person: hexKey(1), BirthYear: 1983, Quantity: 1}}})
	}); err != nil {
		t.Fatal(err)
	}
	var typ string
	if err := s.reader.QueryRowContext(ctx, `SELECT typeof(body_hash) FROM sales WHERE outlet = '10000001' AND txn_id = 't1'`).Scan(&typ); err != nil {
		t.Fatal(err)
	}
	if typ != "blob" {
		t.Fatalf("a sale's hash is stored as a %s; this test expects the compact blob", typ)
	}
	src, err := migrations.ReadFile("migrations/00014_delivery_records_compact.sql")
	if err != nil {
		t.Fatal(err)
	}
	_, down, _ := strings.Cut(string(src), "-- +goose Down")
	for _, st := range strings.Split(down, ";\n") {
		if strings.Contains(st, "DROP COLUMN") || strings.TrimSpace(st) == "" {
			continue // the schema stays as the store opened it
		}
		if _, err := s.writer.ExecContext(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	var got string
	if err := s.reader.QueryRowContext(ctx, `SELECT body_hash, typeof(body_hash) FROM sales WHERE outlet = '10000001' AND txn_id = 't1'`).Scan(&got, &typ); err != nil {
		t.Fatal(err)
	}
	if got != hash || typ != "text" {
		t.Errorf("after 00014's Down a sale's hash is a %s %x, want the text %s", typ, got, hash)
	}
}
