package snapshot

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unsafe"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/seed"
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
		{"few", publicmask.Outlet{Code: "4", Name: "약국", Addr: "부산광역시 중구 광복로 1", Type: "01", Stock: 20, StockAt: at, UpdatedAt: at.Add(time.Hour)}, []bool{true, true, true, true}},
		{"break", publicmask.Outlet{Code: "5", Name: "약국", Addr: "부산광역시 중구 광복로 2", Type: "01", Stock: 20, Suspended: true, StockAt: at, UpdatedAt: at}, []bool{true, true, true, true}},
		{"empty", publicmask.Outlet{Code: "6", Name: "약국", Addr: "부산광역시 중구 광복로 3", Type: "01", StockAt: at, UpdatedAt: at}, []bool{true, true, true, true}},
		// A year past 9999 makes the stock fields longer than the entry
		// keeps: they are encoded per answer.
		{"far future", publicmask.Outlet{Code: "3", Name: "약국", Addr: "세종특별자치시 조치원읍 5", Type: "01", Stock: 1, StockAt: at.AddDate(10_000_000, 0, 0), UpdatedAt: at.AddDate(10_000_000, 0, 0)}, []bool{true, true, true, true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.o
			o.Addr = string([]byte(o.Addr)) // a string of its own, as read from a store
			e := newEntry(o, ParseAddress(o.Addr))
			for k, s := range []string{e.Code(), e.Name(), e.Addr(), e.Type()} {
				if within(s, e.reg) != c.verbatim[k] {
					t.Errorf("field %d %q inside the encoding: %v, want %v", k, s, !c.verbatim[k], c.verbatim[k])
				}
			}
			if pl := e.Place(); e.place.other != nil || pl.Dong != "" && !within(pl.Dong, e.reg) {
				t.Errorf("Place %+v is not spans of the encoding", pl)
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
			if far := c.name == "far future"; far != (e.v1Set == v1Slow) {
				t.Errorf("v1Set = %b (far future: %v)", e.v1Set, far)
			}
			// A sale keeps the registry encoding and the strings in it.
			o2 := e.Outlet()
			o2.Stock, o2.Version = o2.Stock+1, o2.Version+1
			e2 := nextEntry(o2, e.Place(), e, e.rate)
			if unsafe.StringData(e2.reg) != unsafe.StringData(e.reg) || e2.Addr() != e.Addr() || !within(e2.Addr(), e.reg) == c.verbatim[2] {
				t.Errorf("a sale re-encoded the registry fields or left its strings")
			}
		})
	}
}

// TestPlaceRef checks that an entry's Place reads back as parsed (or as
// inferred) whether its parts are spans of the address or not.
func TestPlaceRef(t *testing.T) {
	cases := []struct {
		addr  string
		place Address // zero: ParseAddress(addr)
		spans bool
	}{
		{addr: "서울특별시 강남구 논현동 1-2", spans: true},
		{addr: "경기도 수원시 장안구 정자동 4", spans: true},
		{addr: "서울특별시 성북구 솔매로 38 (미아동, 삼양아케이트)", spans: true},
		{addr: "경남거창군 거창읍 중앙로 1", spans: true},
		{addr: "경기도 수원시  장안구 정자동 4"},        // 시군구 joined with one space
		{addr: "경기도 용인시 처인구 처인성로 185번길 23"}, // road joined to its branch
		{addr: "세종특별자치시 조치원읍 5", spans: true},
		{addr: "", spans: true},
		// Inferred: the 시도 and 시군구 are not in the text.
		{addr: "내면 창촌로 45-5", place: Address{Sido: "강원도", Sigungu: "홍천군", Dong: "내면", Road: "창촌로", Bldg: "45-5"}},
		{addr: "강릉시 경강로 1", place: Address{Sido: "강원도", Sigungu: "강릉시", Road: "경강로", Bldg: "1"}, spans: true},
	}
	for _, c := range cases {
		want := c.place
		if want == (Address{}) {
			want = ParseAddress(c.addr)
		}
		e := newEntry(publicmask.Outlet{Code: "1", Name: "약국", Addr: c.addr, Type: "01"}, want)
		if got := e.Place(); got != want {
			t.Errorf("%q: Place() = %+v, want %+v", c.addr, got, want)
		}
		if spans := e.place.other == nil; spans != c.spans {
			t.Errorf("%q: held as spans: %v, want %v", c.addr, spans, c.spans)
		}
		// A sale keeps the place as it was.
		o := e.Outlet()
		o.Stock, o.Version = 3, 2
		if got := nextEntry(o, e.Place(), e, e.rate).Place(); got != want {
			t.Errorf("%q after a sale: %+v, want %+v", c.addr, got, want)
		}
	}
}

// TestRehome checks that a snapshot's registry text lies in shared blocks
// filled in geo order, that the strings still point into their entry's
// text, and that every record encodes as a lone entry's does.
func TestRehome(t *testing.T) {
	outlets := seed.Outlets(seed.Options{Seed: 7, Count: 3000})
	outlets = append(outlets, publicmask.Outlet{Code: "99999999", Name: `"따옴표" 약국`, Addr: "서울특별시 중구 명동 1", Type: "01"})
	s := build(outlets, 1, t0)
	for i := range s.Len() {
		e := s.At(i)
		lone := newEntry(e.Outlet(), e.Place())
		if got, want := e.AppendV1(nil), lone.AppendV1(nil); !bytes.Equal(got, want) {
			t.Fatalf("%s: %s, want %s", e.Code(), got, want)
		}
		if !within(e.Code(), e.reg) || !within(e.Addr(), e.reg) || within(e.Name(), e.reg) != (e.Code() != "99999999") {
			t.Fatalf("%s: strings do not point into the entry's text", e.Code())
		}
	}
	// In the grid's order, an entry's text begins where the previous one's
	// ends (except between blocks).
	g, next := s.reg.geo, 0
	for j := 1; j < len(g.idx); j++ {
		a, b := s.At(int(g.idx[j-1])).reg, s.At(int(g.idx[j])).reg
		if uintptr(unsafe.Pointer(unsafe.StringData(a)))+uintptr(len(a)) == uintptr(unsafe.Pointer(unsafe.StringData(b))) {
			next++
		}
	}
	if want := len(g.idx) - len(g.idx)/chunkSize - 2; next < want {
		t.Errorf("%d of %d neighbours in the grid have adjacent text, want ≥ %d", next, len(g.idx)-1, want)
	}
}

// TestEntryOutlet checks that an entry gives back the outlet it was made
// from (times in UTC), whether its strings are read from its JSON, held
// aside (escaped) or too long for the JSON's offsets.
func TestEntryOutlet(t *testing.T) {
	at := time.Date(2020, 3, 11, 8, 0, 0, 123456789, publicmask.Seoul)
	long := strings.Repeat("가", 0x10000/3+1)
	for _, o := range []publicmask.Outlet{
		{Code: "11817488", Name: "온누리약국", Addr: "서울특별시 강남구 논현동 1-2", Type: "01", Lat: 37.5, Lng: 127},
		{Code: "2", Name: `"큰" <약국>`, Addr: "서울\t중구", Type: "0\"1", Stock: 120, Sold: 7, Suspended: true, StockAt: at, UpdatedAt: at.Add(time.Hour), Version: 9},
		{Code: "3", Name: long, Addr: "부산광역시 중구 광복로 1", Type: "01", StockAt: time.Unix(0, 0), UpdatedAt: at},
		{Code: "4", Name: "약국", Addr: long + "\"", Type: "03", Stock: -1},
	} {
		e := newEntry(o, ParseAddress(o.Addr))
		want := o
		want.StockAt, want.UpdatedAt = utc(o.StockAt), utc(o.UpdatedAt)
		if got := e.Outlet(); got != want {
			t.Errorf("Outlet() = %+v,\n want %+v", got, want)
		}
		if e.Stocked() != o.Stocked() || e.RemainStat() != o.RemainStat() {
			t.Errorf("%s: stocked %v, band %q; want %v, %q", o.Code, e.Stocked(), e.RemainStat(), o.Stocked(), o.RemainStat())
		}
		var rec map[string]any
		if err := json.Unmarshal(e.AppendV1(nil), &rec); err != nil || rec["name"] != o.Name || rec["addr"] != o.Addr || rec["type"] != o.Type {
			t.Errorf("%s: record %v (%v)", o.Code, rec, err)
		}
	}
}
