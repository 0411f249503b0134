package rush

import (
	"encoding/json"
	"reflect"
	"testing"
)

// parseReceipt (fast path or fallback) equals a fresh
// json.Unmarshal, also when r held a previous receipt (as a reused value would).
func TestParseReceiptAsUnmarshal(t *testing.T) {
	cases := append([]string{}, receipts...)
	cases = append(cases,
		`{"sale_id":"s\u002d1","sold_at":"2020-03-11T08:00:01+09:00","items":[{"role":"buy\u0065r","quantity":1,"remaining_this_week":0}],"outlet":{"stock":1,"remain_stat":"some"}}`,
		`{"sold_at":"2020-03-11T08:00:01+09:00","sale_id":"s-9","items":[{"quantity":1,"role":"proxy"}],"outlet":{"remain_stat":"few","stock":3}}`,
		`{"sale_id":"s-1","sold_at":"2020-03-11T08:00:01+09:00","items":[{"role":"buyer","quantity":2,"remaining_this_week":0,"x":1}],"outlet":{"stock":98,"remain_stat":"plenty","at":"z"},"late":true}`,
		" {\"sale_id\" : \"s-1\",\n\"sold_at\":\"2020-03-11T08:00:01Z\" , \"items\" : [ ] , \"outlet\" : { \"stock\" : 1 , \"remain_stat\" : \"some\" } } \r\n",
		`{"sale_id":"s-1","sold_at":"2020-03-11T08:00:01Z","items":[{"role":"Buyer","quantity":-0,"remaining_this_week":null}],"outlet":{"stock":-0,"remain_stat":"empty"}}`,
		`{"sale_id":"s-1","sold_at":"2020-03-11T08:00:01Z","items":null,"outlet":{"stock":1,"remain_stat":"some"}}`,
		`{"sale_id":"é","sold_at":"2020-03-11T08:00:01Z","items":[],"outlet":{"stock":1,"remain_stat":"some"}}`,
		`{"SALE_ID":"s-1","sold_at":"2020-03-11T08:00:01Z","items":[],"outlet":{"stock":1,"remain_stat":"some"}}`,
	)
	prev := receipt{SaleID: "old", Items: []receiptItem{{Role: "x", Quantity: 9}, {Role: "y"}}}
	prev.Outlet.Stock, prev.Outlet.RemainStat = 7, "old"
	for _, s := range cases {
		var want receipt
		werr := json.Unmarshal([]byte(s), &want)
		for _, start := range []receipt{{}, prev} {
			got := start
			got.Items = append([]receiptItem(nil), start.Items...)
			err := parseReceipt([]byte(s), &got)
			if (err == nil) != (werr == nil) || (err == nil && !reflect.DeepEqual(got, want)) {
				t.Errorf("%s: %+v %v; json.Unmarshal %+v %v", s, got, err, want, werr)
			}
		}
	}
}
