package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/publicmask/publicmask"
)

// TestBlankRowsWrittenAsBound: an import's new outlets, written by the
// upsert whose first-state columns are constants (sqlOutletBlankGroup),
// get the values a bound row gets — stock 0, not suspended, stock_at NULL,
// sold 0, their updated_at and version — and a group with one outlet in
// another state (a re-import of a stocked outlet) keeps every row's own
// state; both in full groups and in a group's remainder.
func TestBlankRowsWrittenAsBound(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	outlet := func(i int) *publicmask.Outlet {
		return &publicmask.Outlet{Code: fmt.Sprintf("3%07d", i), Name: "약국", Addr: "서울특별시 중구", Type: publicmask.TypePharmacy,
			Lat: 37.5, Lng: 127, UpdatedAt: tRec}
	}
	var blank []*publicmask.Outlet
	for i := range bulkRows + 7 {
		blank = append(blank, outlet(i))
	}
	if err := s.Write(ctx, func(tx publicmask.Tx) error { return tx.(publicmask.BulkTx).SaveOutlets(blank) }); err != nil {
		t.Fatal(err)
	}
	// A group in which one outlet is not blank: every row bound.
	mixed := []*publicmask.Outlet{outlet(bulkRows + 10), outlet(bulkRows + 11)}
	mixed[1].Stock, mixed[1].Suspended, mixed[1].StockAt, mixed[1].Sold = 40, true, tRec, 3
	if err := s.Write(ctx, func(tx publicmask.Tx) error { return tx.(publicmask.BulkTx).SaveOutlets(mixed) }); err != nil {
		t.Fatal(err)
	}
	rows, err := s.reader.Query(`SELECT code, stock, suspended, typeof(stock_at), coalesce(stock_at, 0), updated_at, version, sold FROM outlets`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	want := map[string]*publicmask.Outlet{}
	for _, o := range append(blank, mixed...) {
		want[o.Code] = o
	}
	n := 0
	for rows.Next() {
		var code, atType string
		var stock, susp, at, upd, sold int64
		var ver int64
		if err := rows.Scan(&code, &stock, &susp, &atType, &at, &upd, &ver, &sold); err != nil {
			t.Fatal(err)
		}
		o := want[code]
		if o == nil {
			t.Fatalf("row %s was not saved", code)
		}
		n++
		wantAt, wantType := int64(0), "null"
		if !o.StockAt.IsZero() {
			wantAt, wantType = o.StockAt.UnixMicro(), "integer"
		}
		wantSusp := int64(0)
		if o.Suspended {
			wantSusp = 1
		}
		if stock != int64(o.Stock) || susp != wantSusp || atType != wantType || at != wantAt || upd != o.UpdatedAt.UnixMicro() || ver != o.Version || sold != int64(o.Sold) {
			t.Errorf("%s: stock %d suspended %d stock_at %s %d updated_at %d version %d sold %d; want %+v", code, stock, susp, atType, at, upd, ver, sold, o)
		}
	}
	if err := rows.Err(); err != nil || n != len(want) {
		t.Fatalf("%d rows of %d (%v)", n, len(want), err)
	}
}

// TestCompactResponsesAreEmptyBlobs: deliveries whose records are kept as
// their stock (sqlDeliveriesCompactGroup writes the response as a
// constant) have an empty blob as their response, not NULL — a binary
// from before migration 00014 finds a record by response IS NOT NULL — and
// a group with one full record keeps its response as given.
func TestCompactResponsesAreEmptyBlobs(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	code := "10000001"
	err := s.Write(ctx, func(tx publicmask.Tx) error {
		return tx.SaveOutlet(&publicmask.Outlet{Code: code, Name: "약국", Addr: "서울", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127})
	})
	if err != nil {
		t.Fatal(err)
	}
	hash := strings.Repeat("0f", 32)
	deliver := func(from, n int, full int) error {
		return s.Write(ctx, func(tx publicmask.Tx) error {
			bt := tx.(publicmask.BulkTx)
			var recs []publicmask.IdemRecord
			var ds []*publicmask.Delivery
			for i := from; i < from+n; i++ {
				id, txn := fmt.Sprintf("d%d", i), fmt.Sprintf("t%d", i)
				r := publicmask.IdemRecord{Outlet: code, TxnID: txn, BodyHash: hash, CreatedAt: tRec,
					Delivery: &publicmask.DeliveryRecord{ID: id, Quantity: 5, Stock: 5 * (i + 1)}}
				if i == full {
					r.Delivery, r.Response = nil, []byte(`{"id":"`+id+`"}`)
				}
				recs = append(recs, r)
				ds = append(ds, &publicmask.Delivery{ID: id, Outlet: code, TxnID: txn, Quantity: 5, At: tRec})
			}
			if err := bt.PutIdempotencies(recs); err != nil {
				return err
			}
			return bt.InsertDeliveries(ds)
		})
	}
	if err := deliver(0, bulkRows+3, -1); err != nil { // compact: a full group and a remainder
		t.Fatal(err)
	}
	if err := deliver(bulkRows+3, 4, bulkRows+5); err != nil { // one full record among compact ones
		t.Fatal(err)
	}
	rows, err := s.reader.Query(`SELECT id, typeof(response), length(response), CAST(response AS TEXT), typeof(stock) FROM deliveries`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id, typ, text, stockType string
		var size int
		if err := rows.Scan(&id, &typ, &size, &text, &stockType); err != nil {
			t.Fatal(err)
		}
		n++
		if id == fmt.Sprintf("d%d", bulkRows+5) {
			if typ != "blob" || text != `{"id":"`+id+`"}` || stockType != "null" {
				t.Errorf("%s (full record): response %s %q, stock %s", id, typ, text, stockType)
			}
			continue
		}
		if typ != "blob" || size != 0 || stockType != "integer" {
			t.Errorf("%s (compact record): response %s of %d bytes, stock %s", id, typ, size, stockType)
		}
	}
	if err := rows.Err(); err != nil || n != bulkRows+7 {
		t.Fatalf("%d deliveries of %d (%v)", n, bulkRows+7, err)
	}
}
