package sqlite

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/publicmask/publicmask"
)

func TestHotOutletRoundTrip(t *testing.T) {
	at := time.Date(2020, 3, 11, 8, 0, 0, 123456789, publicmask.Seoul)
	for _, o := range []publicmask.Outlet{
		{Code: "10000001", Name: "온누리약국", Addr: "서울특별시 중구 명동길 1", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 126.9},
		{Code: "10000002", Name: "우체국", Addr: "부산광역시 중구", Type: publicmask.TypePost, Lat: -1, Lng: 0,
			Stock: 250, Suspended: true, Sold: 1 << 40, StockAt: at, UpdatedAt: at.Add(time.Hour), Version: 1 << 50},
		{Code: "x", StockAt: time.Unix(0, 0)}, // the epoch is a time, not null
		{Code: "", Name: "", Addr: "", Type: "", Stock: -3},
	} {
		want := stored(o)
		p, ok := packOutlet(&want, nil)
		if !ok {
			t.Fatalf("%+v not packed", o)
		}
		if got := p.outlet(); got != want {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
		if p.code() != o.Code {
			t.Errorf("code %q, want %q", p.code(), o.Code)
		}
	}
	long := publicmask.Outlet{Code: "10000003", Addr: strings.Repeat("가", 0x10000/3+1)}
	if _, ok := packOutlet(&long, nil); ok {
		t.Error("an address over 64 KiB was packed")
	}
}

// A sale changes only the stock columns: the copy keeps the text it holds
// (no allocation per sale), and an outlet too long to pack is not held.
func TestHotHoldKeepsText(t *testing.T) {
	h := newHot()
	o := stored(publicmask.Outlet{Code: "10000001", Name: "약국", Addr: "서울특별시 중구", Type: "01", Stock: 10})
	h.hold(&o)
	before := h.outlets.find(o.Code).text
	sold := o
	sold.Name = strings.Clone(o.Name) // read back from the store: strings of its own
	sold.Stock, sold.Sold, sold.Version = 8, 2, 7
	h.hold(&sold)
	p := h.outlets.find(o.Code)
	if unsafe.StringData(p.text) != unsafe.StringData(before) {
		t.Error("a stock change copied the registry text")
	}
	if got := p.outlet(); got != sold {
		t.Errorf("held %+v, want %+v", got, sold)
	}
	renamed := sold
	renamed.Name = "새약국"
	h.hold(&renamed)
	if got, _ := h.outlet(o.Code); got.Name != "새약국" {
		t.Errorf("renamed outlet holds name %q", got.Name)
	}
	renamed.Addr = strings.Repeat("가", 0x10000/3+1)
	h.hold(&renamed)
	if _, ok := h.outlet(o.Code); ok {
		t.Error("an outlet too long to pack is still held")
	}
}

// Rows are found across the table's growth, and an outlet that was marked
// absent is held again once it can be packed.
func TestHotOutletsIndex(t *testing.T) {
	h := newHot()
	const n = 5000
	for i := range n {
		o := publicmask.Outlet{Code: strconv.Itoa(1e7 + i), Stock: i}
		h.hold(&o)
	}
	for i := range n {
		if o, ok := h.outlet(strconv.Itoa(1e7 + i)); !ok || o.Stock != i {
			t.Fatalf("outlet %d: %+v, %v", i, o, ok)
		}
	}
	if _, ok := h.outlet("20000000"); ok {
		t.Error("an outlet never held was found")
	}
	o := publicmask.Outlet{Code: "10000007", Addr: strings.Repeat("가", 0x10000/3+1)}
	h.hold(&o)
	if _, ok := h.outlet(o.Code); ok {
		t.Error("an outlet too long to pack is still held")
	}
	o.Addr = "서울"
	h.hold(&o)
	if got, ok := h.outlet(o.Code); !ok || got != o {
		t.Errorf("held %+v, %v; want %+v", got, ok, o)
	}
	if h.outlets.n != n {
		t.Errorf("%d rows for %d outlets", h.outlets.n, n)
	}
}
