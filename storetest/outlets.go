package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

func testOutletsAndVersions(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000002", "00000001")
	list, v, err := s.Outlets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Code != "00000001" || list[1].Code != "00000002" {
		t.Fatalf("Outlets not ordered by code: %+v", list)
	}
	if v < 2 || list[0].Version == list[1].Version {
		t.Fatalf("versions not distinct/advancing: v=%d %d %d", v, list[0].Version, list[1].Version)
	}
	// Update one: its version must pass every earlier one. The version may
	// be stamped as late as the commit, so it is read after Write returns.
	var saved publicmask.Outlet
	stockAt := t0.Add(time.Minute)
	write(t, s, func(tx publicmask.Tx) error {
		o, err := tx.LockOutlet("00000002")
		if err != nil {
			return err
		}
		saved = o
		saved.Stock, saved.StockAt, saved.Suspended, saved.UpdatedAt, saved.Sold = 250, stockAt, true, stockAt, 1234
		return tx.SaveOutlet(&saved)
	})
	if saved.Version <= v {
		t.Fatalf("update version %d not above %d", saved.Version, v)
	}
	got, err := s.Outlet(ctx, "00000002")
	if err != nil {
		t.Fatal(err)
	}
	if got.Stock != 250 || got.Sold != 1234 || !got.Suspended || !got.StockAt.Equal(stockAt) || !got.UpdatedAt.Equal(stockAt) || got.Version != saved.Version {
		t.Fatalf("round trip lost fields: %+v", got)
	}
	if got.Name != "약국 00000002" || got.Lat != 37.6254369 || got.Lng != 127.0164096 || got.Type != "01" {
		t.Fatalf("registry fields changed: %+v", got)
	}
	ch, err := s.OutletChanges(ctx, v, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch) != 1 || ch[0].Code != "00000002" || ch[0].Version != saved.Version || ch[0].Sold != 1234 {
		t.Fatalf("OutletChanges after %d = %+v", v, ch)
	}
	if ch, _ := s.OutletChanges(ctx, 0, 1); len(ch) != 1 {
		t.Fatalf("limit not honoured: %d", len(ch))
	}
	if _, err := s.Outlet(ctx, "99999999"); publicmask.ErrorCode(err) != publicmask.ENotFound {
		t.Fatalf("missing outlet: %v", err)
	}
	write(t, s, func(tx publicmask.Tx) error {
		_, err := tx.LockOutlet("99999999")
		if publicmask.ErrorCode(err) != publicmask.ENotFound {
			return fmt.Errorf("LockOutlet of missing = %v", err)
		}
		if o, err := tx.LockOutlet("00000002"); err != nil || o.Sold != 1234 {
			return fmt.Errorf("LockOutlet lost sold: %+v %v", o, err)
		}
		return nil
	})
	testRegistryChangeOfAHeldOutlet(t, s)
}

// A registry change of a held outlet is saved whole, beside its stock (a
// store may write a stock-only change of a held outlet more cheaply).
func testRegistryChangeOfAHeldOutlet(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	write(t, s, func(tx publicmask.Tx) error {
		o, err := tx.LockOutlet("00000002")
		if err != nil {
			return err
		}
		o.Name, o.Addr, o.Lat, o.Stock = "새 이름 약국", "새 주소", 37.5, 249
		return tx.SaveOutlet(&o)
	})
	// Outlets reads the rows (Outlet may answer from a store's own copy).
	all, _, err := s.Outlets(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("Outlets: %d, %v", len(all), err)
	}
	for _, got := range []publicmask.Outlet{all[1], mustOutlet(t, s, "00000002")} {
		if got.Name != "새 이름 약국" || got.Addr != "새 주소" || got.Lat != 37.5 || got.Stock != 249 || got.Sold != 1234 {
			t.Fatalf("registry change of a held outlet: %+v", got)
		}
	}
}

// testVersionsPerWrite: a Write that saves several outlets, one of them
// several times through the same pointer (several sales at one outlet in a
// batch), leaves each with one final version, all above every earlier one;
// the change feed returns each outlet once, in version order.
func testVersionsPerWrite(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000001", "00000002", "00000003")
	_, before, _ := s.Outlets(ctx)
	var a, b publicmask.Outlet
	write(t, s, func(tx publicmask.Tx) error {
		var err error
		if a, err = tx.LockOutlet("00000002"); err != nil {
			return err
		}
		if b, err = tx.LockOutlet("00000001"); err != nil {
			return err
		}
		for i := range 3 {
			a.Stock = 10 + i
			if err := tx.SaveOutlet(&a); err != nil {
				return err
			}
		}
		b.Suspended = true
		return tx.SaveOutlet(&b)
	})
	if a.Version <= before || b.Version <= before || a.Version == b.Version {
		t.Fatalf("versions after write: a=%d b=%d, before=%d", a.Version, b.Version, before)
	}
	ch, err := s.OutletChanges(ctx, before, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch) != 2 || ch[0].Version >= ch[1].Version {
		t.Fatalf("changes after %d = %+v", before, ch)
	}
	for _, c := range ch {
		want := map[string]publicmask.Outlet{a.Code: a, b.Code: b}[c.Code]
		if c.Version != want.Version || c.Stock != want.Stock || c.Suspended != want.Suspended {
			t.Fatalf("change %+v, want %+v", c, want)
		}
	}
	_, after, _ := s.Outlets(ctx)
	if after != max(a.Version, b.Version) {
		t.Fatalf("Outlets version %d, want %d", after, max(a.Version, b.Version))
	}
}

// testLargeStock: stock and the quantities behind it are never narrowed to
// 32 bits.
func testLargeStock(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	const big = 3_000_000_000 // > 2^31
	o := outlet("00000001")
	o.Stock, o.StockAt = big, t0
	write(t, s, func(tx publicmask.Tx) error {
		if err := tx.SaveOutlet(&o); err != nil {
			return err
		}
		if err := tx.InsertDelivery(&publicmask.Delivery{ID: "d1", Outlet: o.Code, TxnID: "t1", Quantity: big, At: t0}); err != nil {
			return err
		}
		return tx.InsertCorrection(&publicmask.Correction{ID: "c1", Outlet: o.Code, TxnID: "t2", Count: big, Delta: big - 1, At: t0})
	})
	got, err := s.Outlet(ctx, o.Code)
	if err != nil || got.Stock != big {
		t.Fatalf("stock read back = %d, %v; want %d", got.Stock, err, big)
	}
	tots, err := s.OutletTotals(ctx)
	if err != nil || len(tots) != 1 {
		t.Fatalf("OutletTotals = %v, %v", tots, err)
	}
	if tots[0].Delivered != big || tots[0].Stock != big {
		t.Fatalf("totals %+v; want delivered and stock %d", tots[0], big)
	}
}

// testSuspensions: the suspension history answers "was the outlet
// suspended at t" for past instants, inside the writing transaction too.
func testSuspensions(t *testing.T, s publicmask.Store) {
	saveOutlets(t, s, "00000001", "00000002")
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	write(t, s, func(tx publicmask.Tx) error {
		if err := tx.StartSuspension("00000001", at(1)); err != nil {
			return err
		}
		// Read your writes: the open suspension covers later instants.
		if on, err := tx.SuspendedAt("00000001", at(2)); err != nil || !on {
			return fmt.Errorf("SuspendedAt inside the open suspension = %v, %v", on, err)
		}
		return tx.EndSuspension("00000001", at(3))
	})
	write(t, s, func(tx publicmask.Tx) error {
		if err := tx.StartSuspension("00000001", at(5)); err != nil {
			return err
		}
		// Suspended, resumed and suspended again at one instant (one batch):
		// the suspension is open again.
		if err := tx.EndSuspension("00000001", at(5)); err != nil {
			return err
		}
		return tx.StartSuspension("00000001", at(5))
	})
	write(t, s, func(tx publicmask.Tx) error {
		for _, c := range []struct {
			outlet string
			h      int
			want   bool
		}{
			{"00000001", 0, false}, {"00000001", 1, true}, {"00000001", 2, true}, {"00000001", 3, false},
			{"00000001", 4, false}, {"00000001", 5, true}, {"00000001", 100, true}, {"00000002", 2, false},
		} {
			got, err := tx.SuspendedAt(c.outlet, at(c.h))
			if err != nil {
				return err
			}
			if got != c.want {
				return fmt.Errorf("SuspendedAt(%s, +%dh) = %v, want %v", c.outlet, c.h, got, c.want)
			}
		}
		return nil
	})
}

// testOutletActive: an outlet's own writes — sales by the time they were
// recorded, cancels, counts, suspends and resumes — are evidence that it
// was online; deliveries and shortfall corrections are not its requests.
func testOutletActive(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000001", "00000002", "00000003", "00000004", "00000005", "00000006")
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	write(t, s, func(tx publicmask.Tx) error {
		// 1: a live sale at +30.
		if err := tx.InsertSale(sale("a", "00000001", at(30), 1, "aaaa")); err != nil {
			return err
		}
		// 2: a late sale sold at −600, recorded at +30.
		l := sale("b", "00000002", at(-600), 1, "bbbb")
		l.RecordedAt, l.Late = at(30), true
		if err := tx.InsertSale(l); err != nil {
			return err
		}
		// 3: a count at +30; a shortfall correction at +30 at 6.
		if err := tx.InsertCorrection(&publicmask.Correction{ID: "c", Outlet: "00000003", TxnID: "c", Count: 1, Delta: 1, At: at(30)}); err != nil {
			return err
		}
		if err := tx.InsertCorrection(&publicmask.Correction{ID: "c6", Outlet: "00000006", TxnID: "c6", Kind: publicmask.CorrectionShortfall, SaleID: "x", Delta: 1, At: at(30)}); err != nil {
			return err
		}
		// 4: resumed at +30 after a suspension from −600.
		if err := tx.StartSuspension("00000004", at(-600)); err != nil {
			return err
		}
		if err := tx.EndSuspension("00000004", at(30)); err != nil {
			return err
		}
		// 5: a sale at −600 cancelled at +30; a delivery at +30 at 6.
		if err := tx.InsertSale(sale("e", "00000005", at(-600), 1, "eeee")); err != nil {
			return err
		}
		if err := tx.MarkSaleCancelled("e", at(30)); err != nil {
			return err
		}
		return tx.InsertDelivery(&publicmask.Delivery{ID: "d6", Outlet: "00000006", TxnID: "d6", Quantity: 5, At: at(30)})
	})
	for _, code := range []string{"00000001", "00000002", "00000003", "00000004", "00000005", "00000006"} {
		for _, c := range []struct {
			after, until int
			want         bool
		}{
			{0, 60, true}, {0, 30, true}, {30, 60, false}, {-100, 29, false}, {31, 90, false},
		} {
			want := c.want && code != "00000006"
			got, err := s.OutletActive(ctx, code, at(c.after), at(c.until))
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("OutletActive(%s, (+%d, +%d]) = %v, want %v", code, c.after, c.until, got, want)
			}
		}
	}
}

func mustOutlet(t *testing.T, s publicmask.Store, code string) publicmask.Outlet {
	t.Helper()
	o, err := s.Outlet(context.Background(), code)
	if err != nil {
		t.Fatal(err)
	}
	return o
}
