package sqlite

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// The flush boxes a column's value again only when it differs from the
// previous row's (boxes): every row must still be written with its own
// values, whether they equal the previous row's or not, in every table a
// batch writes, and the next batch must not see the last one's.
func TestFlushWritesEachRowsOwnValues(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	t0 := time.Unix(1583884800, 0).UTC()
	codes := []string{"10000001", "10000002", "10000003"}
	if err := s.Write(ctx, func(w publicmask.Tx) error {
		for _, c := range codes {
			if err := w.SaveOutlet(&publicmask.Outlet{Code: c, Name: "약국", Addr: "서울", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127, Stock: 1000, UpdatedAt: t0}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	weeks := []string{"2020-03-09", "2020-03-09", "2020-03-16", "2020-03-09"}
	roles := []string{"buyer", "buyer", "proxy", "buyer"}
	cats := []string{"", "", "child", ""}
	var want []publicmask.Sale
	wantPW := map[[2]string]publicmask.PersonWeek{}
	for batch := range 2 {
		now := t0.Add(time.Duration(batch+1) * time.Hour)
		if err := s.Write(ctx, func(w publicmask.Tx) error {
			for i := range 8 {
				k := batch*8 + i
				code := codes[i%len(codes)]
				o, err := w.LockOutlet(code)
				if err != nil {
					return err
				}
				recorded := now
				if i%3 == 2 {
					recorded = now.Add(time.Second)
				}
				sold := recorded
				if i%2 == 1 {
					sold = recorded.Add(-time.Duration(i) * time.Minute)
				}
				person := fmt.Sprintf("%064x", k%5)
				week := weeks[i%len(weeks)]
				sale := publicmask.Sale{ID: fmt.Sprintf("s%04d", k), Outlet: code, TxnID: fmt.Sprintf("t%d", k), SoldAt: sold, RecordedAt: recorded,
					Week: week, Weekend: i%2 == 0, Quantity: 1 + i%2 + 300*(i%3/2), Late: i%4 == 3, Shortfall: 300 * (i % 3 / 2)}
				for j := range 1 + i%2 {
					sale.Items = append(sale.Items, publicmask.SaleItem{Role: roles[(i+j)%len(roles)], Person: person, Category: cats[(i+j)%len(cats)],
						BirthYear: 1950 + (i+j)%3*20, Quantity: 1 + j})
				}
				pw, _ := wantPW[[2]string{person, week}]
				pw.Person, pw.Week = person, week
				pw.Add(1+i%2, i%2 == 0)
				wantPW[[2]string{person, week}] = pw
				if err := w.PutPersonWeek(pw); err != nil {
					return err
				}
				if err := w.InsertSale(&sale); err != nil {
					return err
				}
				want = append(want, sale)
				o.Stock -= 1 + k
				o.Sold += 1 + k
				o.UpdatedAt = recorded
				if i%2 == 0 {
					o.StockAt = sold
				}
				if err := w.SaveOutlet(&o); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	var got []publicmask.Sale
	if err := s.SalesSince(ctx, time.Time{}, func(x publicmask.Sale) error { got = append(got, x); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d sales read back, %d written", len(got), len(want))
	}
	for i := range want {
		w := want[i]
		w.SoldAt, w.RecordedAt = w.SoldAt.UTC(), w.RecordedAt.UTC()
		g := got[i]
		g.SoldAt, g.RecordedAt = g.SoldAt.UTC(), g.RecordedAt.UTC()
		if !reflect.DeepEqual(g, w) {
			t.Errorf("sale %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	if err := s.Write(ctx, func(w publicmask.Tx) error {
		for k, pw := range wantPW {
			got, err := w.PersonWeeks(k[1], []string{k[0]})
			if err != nil {
				return err
			}
			if got[k[0]] != pw {
				t.Errorf("person-week %v: got %+v, want %+v", k, got[k[0]], pw)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The outlets' rows and their change log's entries, as in the
	// database (the writer's copy is not what is checked here).
	for _, c := range codes {
		var stock, sold, version int64
		var stockAt, updatedAt any
		if err := s.reader.QueryRow(`SELECT stock, sold, version, stock_at, updated_at FROM outlets WHERE code = ?`, c).Scan(&stock, &sold, &version, &stockAt, &updatedAt); err != nil {
			t.Fatal(err)
		}
		o, ok := s.hot.outlet(c)
		if !ok {
			t.Fatalf("outlet %s not in the writer's copy", c)
		}
		if stock != int64(o.Stock) || sold != int64(o.Sold) || version != o.Version || updatedAt != any(micro(o.UpdatedAt)) || stockAt != nullMicro(o.StockAt) {
			t.Errorf("outlet %s row: stock %d sold %d version %d stock_at %v updated_at %v; writer's copy %+v", c, stock, sold, version, stockAt, updatedAt, o)
		}
		var logged string
		if err := s.reader.QueryRow(`SELECT code FROM outlet_changes WHERE version = ?`, version).Scan(&logged); err != nil || logged != c {
			t.Errorf("outlet %s: change log at version %d: %q %v", c, version, logged, err)
		}
	}
}
