package rush

import (
	"encoding/json"
	"reflect"
	"testing"
)

var receipts = []string{
	`{"sale_id":"s-1","sold_at":"2020-03-11T08:00:01.123456+09:00","items":[{"role":"buyer","quantity":2,"remaining_this_week":0}],"outlet":{"stock":98,"remain_stat":"plenty"}}` + "\n",
	`{"sale_id":"s-2","sold_at":"2020-03-11T08:00:01+09:00","items":[{"role":"buyer","quantity":0,"remaining_this_week":null},{"role":"proxy","quantity":1,"remaining_this_week":1}],"outlet":{"stock":-3,"remain_stat":"empty"}}`,
	`{"sale_id":"s-3","sold_at":"2020-03-10T23:00:00Z","items":[],"outlet":{"stock":0,"remain_stat":"break"}}`,
}

// The receipts the server writes are read directly (not by the fallback),
// to what json.Unmarshal reads; the other shapes go to json.Unmarshal.
func TestParseReceipt(t *testing.T) {
	for _, s := range receipts {
		var got, want receipt
		if !parseReceiptFast([]byte(s), &got) {
			t.Errorf("gave up on %s", s)
			continue
		}
		if err := json.Unmarshal([]byte(s), &want); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, json.Unmarshal %+v (%v)", s, got, want, err)
		}
	}
	for _, s := range []string{
		receipts[2][:len(receipts[2])-1] + `,"late":true}`,
		`{"sale_id":"s\u002d1","sold_at":"2020-03-11T08:00:01+09:00","items":[],"outlet":{"stock":1,"remain_stat":"some"}}`,
		`{"sale_id":"s","sold_at":"yesterday","items":[],"outlet":{"stock":1,"remain_stat":"some"}}`,
		`{"sale_id":"s","sold_at":"2020-03-11T08:00:01+09:00","items":[],"outlet":{"stock":1.5,"remain_stat":"some"}}`,
		receipts[0] + "x", `{"error":{"code":"x","message":"y"}}`, ``,
	} {
		var r receipt
		if parseReceiptFast([]byte(s), &r) {
			t.Errorf("read %s directly, which json.Unmarshal must judge", s)
		}
	}
}

// Whatever the direct reading accepts, json.Unmarshal accepts too, with
// the same result.
func FuzzParseReceiptIsUnmarshal(f *testing.F) {
	for _, s := range receipts {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got, want receipt
		if !parseReceiptFast(b, &got) {
			return
		}
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("read %q directly; json.Unmarshal refused it: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: %+v, json.Unmarshal %+v", b, got, want)
		}
	})
}
