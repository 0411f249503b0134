package public

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"testing"

	publicmask "github.com/publicmask/publicmask"
)

// FuzzParams: any raw query either is refused or yields values inside the
// contract's bounds; nothing panics.
func FuzzParams(f *testing.F) {
	for _, s := range []string{
		"page=1&perPage=100", "perPage=99999999999999999999", "lat=37.5&lng=127&m=10000", "lat=NaN&lng=Inf&m=-1",
		"address=%EC%84%9C%EC%9A%B8", "address=%zz", "status=plenty,,few&limit=0", "date=2020-03-11&birth_year=1983",
		"lat=1e400&lng=127", "m=1e-320&lat=33&lng=124", "page=-5", "a=b&&=&lat", "q=%EB%85%BC%ED%98%84&limit=999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := parseParams(raw)
		if err != nil {
			if publicmask.ErrorCode(err) != publicmask.EBadRequest {
				t.Fatalf("%q: error %v is not bad_request", raw, err)
			}
			return
		}
		if q, err := p.pageQuery(); err == nil && (q.page < 1 || q.perPage < 500 || q.perPage > 5000) {
			t.Fatalf("%q: page %+v out of bounds", raw, q)
		}
		if q, err := p.geoQuery(); err == nil {
			if !(q.lat >= 33 && q.lat <= 43 && q.lng >= 124 && q.lng <= 132 && q.m >= 1 && q.m <= 5000) || math.IsNaN(q.m) {
				t.Fatalf("%q: geo %+v out of bounds", raw, q)
			}
		}
		if q, err := p.nearQuery(); err == nil && (q.limit < 1 || q.limit > maxLimit) {
			t.Fatalf("%q: limit %d", raw, q.limit)
		}
		if q, err := p.placesQuery(); err == nil && (q.q == "" || q.limit < 1 || q.limit > maxPlaces) {
			t.Fatalf("%q: places %+v", raw, q)
		}
		if q, err := p.rulesQuery(); err == nil && q.birthYear != 0 && (q.birthYear < 1900 || q.birthYear > 2030) {
			t.Fatalf("%q: birth year %d", raw, q.birthYear)
		}
	})
}

// FuzzHandlerQuery sends arbitrary queries to every route: the answer is
// 200 with JSON, or a contract error; never a panic or a 5xx.
func FuzzHandlerQuery(f *testing.F) {
	var outlets []publicmask.Outlet
	addrs := []string{"서울특별시 강북구 솔매로 38 (미아동)", "서울특별시 중구 명동길 1 (명동1가)", "부산광역시 중구 중앙대로 2 (중앙동)",
		"고성군 거진읍 거탄진로102", "강원도 고성군 간성읍 간성로 1", "경상남도 고성군 고성읍 중앙로 1"}
	for i := 0; i < 300; i++ {
		outlets = append(outlets, publicmask.Outlet{Code: fmt.Sprintf("%08d", i), Name: "약국", Type: "01",
			Addr: addrs[i%len(addrs)], Lat: 37.6 + float64(i)*1e-4, Lng: 127.02})
	}
	env := newEnv(f, outlets, Options{})
	routes := []string{"/corona19-masks/v1/stores/json", "/corona19-masks/v1/sales/json", "/corona19-masks/v1/storesByGeo/json",
		"/corona19-masks/v1/storesByAddr/json", "/api/v2/outlets/near", "/api/v2/summary", "/api/v2/places"}
	f.Add(uint8(0), "page=3&perPage=500")
	f.Add(uint8(2), "lat=37.6&lng=127.02&m=10000")
	f.Add(uint8(3), "address=서울특별시+강북구+미아동")
	f.Add(uint8(4), "lat=37.6&lng=127.02&status=few&limit=9999")
	f.Add(uint8(3), "address=%EC%A4%91%EA%B5%AC")
	f.Add(uint8(6), "q=%EC%A4%91&limit=3")
	f.Fuzz(func(t *testing.T, route uint8, raw string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.Path = routes[int(route)%len(routes)]
		req.URL.RawQuery = raw
		w := httptest.NewRecorder()
		env.h.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400:
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%s?%s: invalid JSON %q", req.URL.Path, raw, w.Body.Bytes())
			}
		default:
			t.Fatalf("%s?%s: status %d", req.URL.Path, raw, w.Code)
		}
	})
}
