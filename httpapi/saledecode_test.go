package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
)

var saleBodies = []string{
	`{"txn_id":"t1","buyer":"8303151992777","quantity":2}`,
	`{"txn_id":"t1","buyer":"830315-1992777","quantity":0,"on_behalf_of":[{"id":"1203013712796","category":"child","quantity":1}]}`,
	`{"txn_id":"t1","buyer":"8303151992777","quantity":1,"sold_at":"2020-03-10T18:00:00+09:00","offline":true}`,
	` { "txn_id" : "t1" , "buyer" : "x", "quantity" : -0 , "on_behalf_of" : [ ] , "offline" : false , "sealed" : "abc" } ` + "\n",
	`{"txn_id":null,"buyer":"x","quantity":null,"on_behalf_of":null,"sold_at":null,"offline":null}`,
	`{"on_behalf_of":[{},{"id":"a"},{"quantity":3,"category":"elderly","id":"b"}]}`,
	`{}`,
}

// The bodies a counter sends are read by parseSale (not the fallback), to
// the same value encoding/json gives.
func TestParseSaleReadsCounterBodies(t *testing.T) {
	for _, s := range saleBodies {
		var got saleIn
		if !parseSale([]byte(s), &got) {
			t.Errorf("parseSale gave up on %s", s)
			continue
		}
		want, err := stdSale([]byte(s))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: parseSale %+v, encoding/json %+v (%v)", s, got, want, err)
		}
	}
	for _, s := range []string{
		`{"TXN_ID":"t"}`, `{"txn_id":"t","txn_id":"u"}`, `{"txn_id":"t\u0031"}`, `{"buyer":"가"}`,
		`{"quantity":1.0}`, `{"quantity":1e2}`, `{"quantity":01}`, `{"quantity":1234567890123456789}`,
		`{"extra":1}`, `{"txn_id":"t"} {}`, `{"txn_id":"t"`, `{"offline":1}`, `[]`, `null`, ``,
		`{"on_behalf_of":[{"id":"a","id":"b"}]}`, `{"on_behalf_of":[null]}`, `{"txn_id":"t",}`,
	} {
		var in saleIn
		if parseSale([]byte(s), &in) {
			t.Errorf("parseSale accepted %s, which encoding/json must judge", s)
		}
	}
}

// stdSale is decodeJSON's reading of b.
func stdSale(b []byte) (saleIn, error) {
	var in saleIn
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

// Whatever parseSale accepts, encoding/json accepts too and reads to the
// same value; everything else goes to encoding/json, so errors and limits
// are its own.
func FuzzParseSaleIsDecodeJSON(f *testing.F) {
	for _, s := range saleBodies {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"quantity":-12,"on_behalf_of":[{"quantity":0}]}`))
	f.Add([]byte(`{"offline":true,"offline":false}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var got saleIn
		if !parseSale(b, &got) {
			return
		}
		want, err := stdSale(b)
		if err != nil {
			t.Fatalf("parseSale accepted %q, encoding/json refused it: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: parseSale %+v, encoding/json %+v", b, got, want)
		}
	})
}
