package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"testing"

	"github.com/publicmask/publicmask/ledger"
)

var deliveryBodies = []string{
	`[{"outlet":"85881870","quantity":500,"txn_id":"open-85881870"}]`,
	`[{"outlet": "85881870", "quantity": 500, "txn_id": "open-85881870"}, {"outlet": "11110001", "quantity": -5, "txn_id": "d2"}]`,
	"[\n {\"txn_id\":\"t\",\"quantity\":0,\"outlet\":\"A0000001\"}\n]\n",
	`[{"outlet":"A0000001","quantity":null,"txn_id":null}]`,
	`[{"outlet":"A0000001"}]`,
	`[{}]`,
	`[]`,
}

func stdDeliveries(b []byte) ([]ledger.DeliveryRequest, error) {
	var in []ledger.DeliveryRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, err
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return in, errors.New("more than one value")
	}
	return in, nil
}

// The usual shapes are read by parseDeliveries, not left to encoding/json.
func TestParseDeliveriesReadsLoadBodies(t *testing.T) {
	for _, s := range deliveryBodies {
		var got []ledger.DeliveryRequest
		if !parseDeliveries([]byte(s), &got) {
			t.Errorf("%s: not read", s)
			continue
		}
		want, err := stdDeliveries([]byte(s))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, encoding/json %+v %v", s, got, want, err)
		}
	}
	for _, s := range []string{`null`, `{}`, `[1]`, `[{"Outlet":"A"}]`, `[{"outlet":"A","outlet":"B"}]`, `[{"outlet":"\u0041"}]`,
		`[{"quantity":1.5}]`, `[{"quantity":1e3}]`, `[{"quantity":"1"}]`, `[{"x":1}]`, `[] []`, `[{"outlet":"A"},]`, `[{"outlet":"약국"}]`} {
		var got []ledger.DeliveryRequest
		if parseDeliveries([]byte(s), &got) {
			t.Errorf("%s: read, should go to encoding/json", s)
		}
	}
}

// Whatever parseDeliveries accepts, encoding/json accepts too and reads to
// the same list; everything else goes to encoding/json, so errors and limits
// are its own.
func FuzzParseDeliveriesIsDecodeJSON(f *testing.F) {
	for _, s := range deliveryBodies {
		f.Add([]byte(s))
	}
	f.Add([]byte(`[{"quantity":-12},{"outlet":"x","txn_id":""}]`))
	f.Add([]byte(`[{"quantity":007}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var got []ledger.DeliveryRequest
		if !parseDeliveries(b, &got) {
			return
		}
		want, err := stdDeliveries(b)
		if err != nil {
			t.Fatalf("parseDeliveries accepted %q, encoding/json refused it: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: parseDeliveries %+v, encoding/json %+v", b, got, want)
		}
	})
}

// A body the parser gives up on part-way is decoded by encoding/json into
// the same slice: nothing of the partial read is left in it.
func TestDeliveriesFallBackClean(t *testing.T) {
	h := newHarness(t, Config{})
	// The second line has an escape: parseDeliveries reads the first, then
	// gives up; encoding/json reads both, and the first has no quantity.
	body := `[{"outlet":"A0000001","txn_id":"d1"},{"outlet":"A0000001","quantity":5,"txn_id":"d\u0032"}]`
	rec := h.do("POST", "/api/v2/admin/deliveries", "admin", body)
	var dres struct{ Results []deliveryLineOut }
	if err := json.Unmarshal(rec.Body.Bytes(), &dres); err != nil || rec.Code != 200 || len(dres.Results) != 2 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if dres.Results[0].OK || dres.Results[1].TxnID != "d2" || !dres.Results[1].OK {
		t.Errorf("the first line (no quantity) must be refused, the second read with its escape: %s", rec.Body)
	}
}

// A list of 50,000 lines as scripts/load.py sends it, read by
// parseDeliveries and by encoding/json (into a slice sized as the handler
// sizes it).
func BenchmarkDecodeDeliveries(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range 50_000 {
		if i > 0 {
			buf.WriteString(", ")
		}
		code := 10_000_000 + i*97
		buf.WriteString(`{"outlet": "` + itoa(code) + `", "quantity": 500, "txn_id": "open-` + itoa(code) + `"}`)
	}
	buf.WriteByte(']')
	body := buf.Bytes()
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			in := make([]ledger.DeliveryRequest, 0, bytes.Count(body, []byte{'{'}))
			if !parseDeliveries(body, &in) || len(in) != 50_000 {
				b.Fatal("not read")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			in := make([]ledger.DeliveryRequest, 0, bytes.Count(body, []byte{'{'}))
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&in); err != nil || len(in) != 50_000 {
				b.Fatal(err)
			}
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }
