package ledger

import (
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// TestCompactReceiptGolden pins what a compact delivery record (migration
// 00014 of the SQLite store) answers on a replay: fullRecord makes the
// receipt again with today's code, so a change to StockReceipt's JSON or to
// RemainStat's bands would silently change the replays of records already
// stored. Such a change needs a new compact format (or must leave rows
// already compacted alone); this test is the reminder.
func TestCompactReceiptGolden(t *testing.T) {
	at := time.Date(2020, 3, 11, 8, 0, 0, 120_300_000, publicmask.Seoul)
	for _, c := range []struct {
		stock int
		want  string
	}{
		{0, `{"id":"d0001","outlet":"12345678","at":"2020-03-11T08:00:00.1203+09:00","stock":0,"remain_stat":"empty","stock_at":"2020-03-11T08:00:00.1203+09:00"}`},
		{1, `{"id":"d0001","outlet":"12345678","at":"2020-03-11T08:00:00.1203+09:00","stock":1,"remain_stat":"empty","stock_at":"2020-03-11T08:00:00.1203+09:00"}`},
		{2, `{"id":"d0001","outlet":"12345678","at":"2020-03-11T08:00:00.1203+09:00","stock":2,"remain_stat":"few","stock_at":"2020-03-11T08:00:00.1203+09:00"}`},
		{29, `{"id":"d0001","outlet":"12345678","at":"2020-03-11T08:00:00.1203+09:00","stock":29,"remain_stat":"few","stock_at":"2020-03-11T08:00:00.1203+09:00"}`},
		{30, `{"id":"d0001","outlet":"12345678","at":"2020-03-11T08:00:00.1203+09:00","stock":30,"remain_stat":"some","stock_at":"2020-03-11T08:00:00.1203+09:00"}`},
		{99, `{"id":"d0001","outlet":"12345678","at":"2020-03-11T08:00:00.1203+09:00","stock":99,"remain_stat":"some","stock_at":"2020-03-11T08:00:00.1203+09:00"}`},
		{100, `{"id":"d0001","outlet":"12345678","at":"2020-03-11T08:00:00.1203+09:00","stock":100,"remain_stat":"plenty","stock_at":"2020-03-11T08:00:00.1203+09:00"}`},
	} {
		rec := publicmask.IdemRecord{Outlet: "12345678", TxnID: "t", BodyHash: "h", CreatedAt: at.UTC(),
			Delivery: &publicmask.DeliveryRecord{ID: "d0001", Quantity: 5, Stock: c.stock}}
		got, err := fullRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Response) != c.want {
			t.Errorf("stock %d: replay answers\n%s\nwant\n%s", c.stock, got.Response, c.want)
		}
	}
	// A record that kept its response is given back as it is.
	kept := publicmask.IdemRecord{Response: []byte(`{"kept":true}`), Delivery: &publicmask.DeliveryRecord{ID: "d0001"}}
	if got, err := fullRecord(kept); err != nil || string(got.Response) != `{"kept":true}` {
		t.Errorf("a full record: %s %v", got.Response, err)
	}
}

// compactable keeps a receipt of any other shape full: a code or id that
// JSON escapes, Seoul's summer time of 1987–88 (+10:00), a time with
// nanoseconds.
func TestCompactableOnlyPlainReceipts(t *testing.T) {
	std := time.Date(2020, 3, 11, 8, 0, 0, 120_300_000, publicmask.Seoul)
	summer := time.Date(1988, 7, 1, 8, 0, 0, 0, publicmask.Seoul)
	for _, c := range []struct {
		name, id, outlet string
		at               time.Time
		want             bool
	}{
		{"plain", "d0001", "12345678", std, true},
		{"escaped code", "d0001", "A&B<1", std, false},
		{"escaped id", "d<1>", "12345678", std, false},
		{"summer time", "d0001", "12345678", summer, false},
		{"nanoseconds", "d0001", "12345678", std.Add(7), false},
	} {
		d := &publicmask.Delivery{ID: c.id, Outlet: c.outlet, TxnID: "t", Quantity: 5, At: c.at}
		r := deliveryReceipt(c.id, c.outlet, c.at, 5)
		body, err := r.appendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		rec := publicmask.IdemRecord{Outlet: c.outlet, TxnID: "t", Response: body, CreatedAt: c.at}
		if got := compactable(&r, &rec, d, 5); got != c.want {
			t.Errorf("%s: compactable = %v, want %v", c.name, got, c.want)
		}
	}
}
