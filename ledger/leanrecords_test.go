package ledger

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// recordingBulk is a BulkTx over a few outlets that keeps the records and
// deliveries it is given.
type recordingBulk struct {
	outlets map[string]publicmask.Outlet
	recs    []publicmask.IdemRecord
	ds      []*publicmask.Delivery
}

func (f *recordingBulk) LockOutlets(codes []string) (map[string]publicmask.Outlet, error) {
	out := map[string]publicmask.Outlet{}
	for _, c := range codes {
		if o, ok := f.outlets[c]; ok {
			out[c] = o
		}
	}
	return out, nil
}

func (f *recordingBulk) Idempotencies([]publicmask.IdemKey) (map[publicmask.IdemKey]publicmask.IdemRecord, error) {
	return map[publicmask.IdemKey]publicmask.IdemRecord{}, nil
}
func (f *recordingBulk) SaveOutlets([]*publicmask.Outlet) error { return nil }
func (f *recordingBulk) InsertDeliveries(ds []*publicmask.Delivery) error {
	f.ds = append(f.ds, ds...)
	return nil
}
func (f *recordingBulk) PutIdempotencies(rs []publicmask.IdemRecord) error {
	f.recs = append(f.recs, rs...)
	return nil
}

// leanBulk is recordingBulk that keeps records as their Delivery.
type leanBulk struct{ recordingBulk }

func (*leanBulk) KeepsDeliveryRecords() {}

// TestDeliverBulkLeavesCompactReceiptsToTheCaller: a store that keeps a
// delivery line's record as its Delivery (publicmask.DeliveryRecorder) is
// given such records without their receipt's bytes, and the writer makes
// none for them (deliverBulk's bodies nil: DeliverMany makes them after
// the commit); a record that must keep its response (a suspended outlet's
// receipt) still has it; a store that keeps every response gets them all.
// The bytes made afterwards (as DeliverMany's done does) are those the
// record's replay gives. Fails if deliverBulk makes every receipt's JSON.
func TestDeliverBulkLeavesCompactReceiptsToTheCaller(t *testing.T) {
	now := time.Date(2020, 3, 11, 8, 0, 0, 120_300_000, publicmask.Seoul)
	outlets := map[string]publicmask.Outlet{}
	var lines []DeliveryRequest
	var hashes []string
	for i := range 6 {
		code := fmt.Sprintf("%08d", 12345670+i)
		outlets[code] = publicmask.Outlet{Code: code, Name: "약국", Type: publicmask.TypePharmacy, Stock: 10 * i, Suspended: i == 2, Version: int64(i + 1)}
		lines = append(lines, DeliveryRequest{Outlet: code, Quantity: 40 + i, TxnID: fmt.Sprintf("open-%d", i)})
		hashes = append(hashes, opHash("delivery", code, lines[i].TxnID, lines[i].Quantity))
	}
	run := func(bt publicmask.BulkTx, recs func() []publicmask.IdemRecord) ([]*StockReceipt, [][]byte, []publicmask.IdemRecord) {
		t.Helper()
		n := len(lines)
		rs, firsts, bodies, errs := make([]*StockReceipt, n), make([][]byte, n), make([][]byte, n), make([]error, n)
		if err := deliverBulk(bt, newBatch(now, n), lines, hashes, rs, firsts, bodies, errs); err != nil {
			t.Fatal(err)
		}
		for j, err := range errs {
			if err != nil || rs[j] == nil || firsts[j] != nil {
				t.Fatalf("line %d: %v %+v %s", j, err, rs[j], firsts[j])
			}
		}
		return rs, bodies, recs()
	}

	lean := &leanBulk{recordingBulk{outlets: outlets}}
	rs, bodies, recs := run(lean, func() []publicmask.IdemRecord { return lean.recs })
	for j, rec := range recs {
		want, err := rs[j].MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if j == 2 { // suspended: another band, its response kept
			if rec.Delivery != nil || !bytes.Equal(rec.Response, want) || !bytes.Equal(bodies[j], want) {
				t.Errorf("line %d (suspended): %+v %s", j, rec, bodies[j])
			}
			continue
		}
		if rec.Delivery == nil || rec.Response != nil || bodies[j] != nil {
			t.Errorf("line %d: the writer made its receipt's bytes: record %+v, body %s", j, rec, bodies[j])
			continue
		}
		replayed, err := fullRecord(rec)
		if err != nil || !bytes.Equal(replayed.Response, want) {
			t.Errorf("line %d: replay %s %v, want %s", j, replayed.Response, err, want)
		}
	}

	full := &recordingBulk{outlets: outlets}
	rs, bodies, recs = run(full, func() []publicmask.IdemRecord { return full.recs })
	for j, rec := range recs {
		want, err := rs[j].MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rec.Response, want) || !bytes.Equal(bodies[j], want) {
			t.Errorf("line %d, a store keeping responses: %+v %s, want %s", j, rec, bodies[j], want)
		}
	}
}
