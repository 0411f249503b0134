package snapshot

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
	"unsafe"

	publicmask "github.com/publicmask/publicmask"
)

// within reports whether sub lies in s's memory.
func within(sub, s string) bool {
	p, b := uintptr(unsafe.Pointer(unsafe.StringData(sub))), uintptr(unsafe.Pointer(unsafe.StringData(s)))
	return p >= b && p+uintptr(len(sub)) <= b+uintptr(len(s))
}

// TestEntryTextIsOneAllocation checks that an entry's registry strings and
// the parts of its Place point into its one encoding when the JSON holds
// them verbatim, and that its records encode the same either way.
func TestEntryTextIsOneAllocation(t *testing.T) {
	at := time.Date(2020, 3, 11, 8, 0, 0, 0, publicmask.Seoul)
	cases := []struct {
		name     string
		o        publicmask.Outlet
		verbatim []bool // code, name, addr, type
	}{
		{"plain", publicmask.Outlet{Code: "11817488", Name: "온누리약국", Addr: "서울특별시 강남구 논현동 1-2", Type: "01", Lat: 37.5, Lng: 127}, []bool{true, true, true, true}},
		{"escaped name", publicmask.Outlet{Code: "1", Name: `"큰" <약국>`, Addr: "서울특별시 강남구 논현동 3", Type: "01"}, []bool{true, false, true, true}},
		{"stocked", publicmask.Outlet{Code: "2", Name: "약국", Addr: "경기도 수원시 장안구 정자동 4", Type: "01", Stock: 120, StockAt: at, UpdatedAt: at}, []bool{true, true, true, true}},
		// A year past 9999 makes the stock fields longer than the entry
		// keeps: they are encoded per answer.
		{"far future", publicmask.Outlet{Code: "3", Name: "약국", Addr: "세종특별자치시 조치원읍 5", Type: "01", Stock: 1, StockAt: at.AddDate(10_000_000, 0, 0), UpdatedAt: at.AddDate(10_000_000, 0, 0)}, []bool{true, true, true, true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.o
			o.Addr = string([]byte(o.Addr)) // a string of its own, as read from a store
			e := newEntry(o, ParseAddress(o.Addr))
			for k, s := range []string{e.Code, e.Name, e.Addr, e.Type} {
				if within(s, e.reg) != c.verbatim[k] {
					t.Errorf("field %d %q inside the encoding: %v, want %v", k, s, !c.verbatim[k], c.verbatim[k])
				}
			}
			if e.Place.Dong != "" && !within(e.Place.Dong, e.reg) {
				t.Errorf("Place.Dong %q does not point into the encoding", e.Place.Dong)
			}
			want := append([]byte(e.reg), e.appendV1Stock(nil)...)
			if got := e.AppendV1(nil); !bytes.Equal(got, want) {
				t.Errorf("AppendV1 = %s, want %s", got, want)
			}
			var rec map[string]any
			if err := json.Unmarshal(e.AppendV1(nil), &rec); err != nil {
				t.Fatalf("AppendV1 is not JSON: %v", err)
			}
			if rec["name"] != c.o.Name || rec["addr"] != c.o.Addr || rec["code"] != c.o.Code {
				t.Errorf("record %v does not hold the outlet %+v", rec, c.o)
			}
			if far := c.name == "far future"; far != (e.tailLen == 0) {
				t.Errorf("tailLen = %d (far future: %v)", e.tailLen, far)
			}
			// A sale keeps the registry encoding and the strings in it.
			o2 := e.Outlet
			o2.Stock, o2.Version = o2.Stock+1, o2.Version+1
			e2 := nextEntry(o2, e.Place, e, e.rate)
			if unsafe.StringData(e2.reg) != unsafe.StringData(e.reg) || e2.Addr != e.Addr || !within(e2.Addr, e.reg) == c.verbatim[2] {
				t.Errorf("a sale re-encoded the registry fields or left its strings")
			}
		})
	}
}
