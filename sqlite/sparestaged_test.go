package sqlite

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// A transaction's staged writes serve the next one emptied, except when a
// fill still reads its outlets in the background (rows inserted by
// SaveOutlets): that map must not be cleared under it.
func TestStagedKeptEmptiedForTheNextWrite(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	at := time.Unix(1583884800, 0)
	outlet := func(code string) *publicmask.Outlet {
		return &publicmask.Outlet{Code: code, Name: "약국", Addr: "서울", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127, Stock: 100, UpdatedAt: at}
	}
	if err := s.Write(ctx, func(w publicmask.Tx) error { return w.SaveOutlet(outlet("10000001")) }); err != nil {
		t.Fatal(err)
	}
	var kept uintptr
	sell := func(w publicmask.Tx) error {
		x := w.(*tx)
		if len(x.st.outlets) != 0 || len(x.st.written) != 0 || len(x.st.records) != 0 || len(x.st.load) != 0 || len(x.st.inserted) != 0 {
			t.Fatalf("a transaction began with staged writes: %+v", x.st)
		}
		kept = reflect.ValueOf(x.st.outlets).Pointer()
		o, err := w.LockOutlet("10000001")
		if err != nil {
			return err
		}
		o.Stock--
		if err := w.SaveOutlet(&o); err != nil {
			return err
		}
		pw := publicmask.PersonWeek{Person: "p", Week: "2020-03-09"}
		pw.Add(1, false)
		return w.PutPersonWeek(pw)
	}
	if err := s.Write(ctx, sell); err != nil {
		t.Fatal(err)
	}
	first := kept
	if err := s.Write(ctx, sell); err != nil {
		t.Fatal(err)
	}
	if kept != first {
		t.Errorf("the outlets' map was not kept for the next transaction")
	}
	var fill uintptr
	if err := s.Write(ctx, func(w publicmask.Tx) error {
		fill = reflect.ValueOf(w.(*tx).st.outlets).Pointer()
		return w.(publicmask.BulkTx).SaveOutlets([]*publicmask.Outlet{outlet("10000002")})
	}); err != nil {
		t.Fatal(err)
	}
	if s.spareSt.outlets != nil && reflect.ValueOf(s.spareSt.outlets).Pointer() == fill {
		t.Fatal("the map a fill reads was kept for the next transaction")
	}
	s.hot.fills.Wait()
	o, err := s.Outlet(ctx, "10000002")
	if err != nil || o.Stock != 100 {
		t.Fatalf("the inserted outlet: %+v %v", o, err)
	}
	if got, ok := s.hot.outlet("10000002"); !ok || got.Stock != 100 {
		t.Errorf("the fill's outlet in the writer's copy: %+v %v", got, ok)
	}
}
