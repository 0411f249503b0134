package public

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
)

const (
	gangbukSample = "nia-v1/storesByGeo-2020-07-03-gangbuk.json"
	yongsanSample = "nia-v1/storesByAddr-2020-03-10-yongsan-bogwangdong.json"
)

var nineKeys = []string{"addr", "code", "created_at", "lat", "lng", "name", "remain_stat", "stock_at", "type"}

func gangbukEnv(t *testing.T, opts Options) (*testEnv, []sampleRecord) {
	recs := loadSample(t, gangbukSample)
	if len(recs) != 222 {
		t.Fatalf("sample has %d stores, want 222", len(recs))
	}
	return newEnv(t, outletsFromSample(t, recs), opts), recs
}

func jsonType(v json.RawMessage) string {
	switch s := strings.TrimSpace(string(v)); {
	case s == "null":
		return "null"
	case strings.HasPrefix(s, `"`):
		return "string"
	case s == "true" || s == "false":
		return "bool"
	case strings.HasPrefix(s, "{"):
		return "object"
	case strings.HasPrefix(s, "["):
		return "array"
	}
	return "number"
}

func sortedKeys(m map[string]json.RawMessage) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestStoresPageClampsAndPageIsString(t *testing.T) {
	env, recs := gangbukEnv(t, Options{})
	res := env.get(t, "/corona19-masks/v1/stores/json?perPage=100")
	if res.code != 200 {
		t.Fatalf("status %d: %s", res.code, res.body)
	}
	var raw map[string]json.RawMessage
	res.json(t, &raw)
	if jsonType(raw["page"]) != "string" || string(raw["page"]) != `"1"` {
		t.Fatalf("page = %s, want the string \"1\"", raw["page"])
	}
	var body struct {
		Count      int
		StoreInfos []map[string]json.RawMessage
		TotalCount int
		TotalPages int
	}
	res.json(t, &body)
	if body.Count != 222 || len(body.StoreInfos) != 222 || body.TotalCount != 222 || body.TotalPages != 1 {
		t.Fatalf("count %d, items %d, total %d, pages %d; want all 222 on one page (perPage clamped to 500)",
			body.Count, len(body.StoreInfos), body.TotalCount, body.TotalPages)
	}
	byCode := map[string]sampleRecord{}
	for _, r := range recs {
		byCode[r.str("code")] = r
	}
	prev := ""
	for _, it := range body.StoreInfos {
		if ks := sortedKeys(it); !slices.Equal(ks, []string{"addr", "code", "lat", "lng", "name", "type"}) {
			t.Fatalf("storeInfos keys %v", ks)
		}
		var code string
		json.Unmarshal(it["code"], &code)
		if code <= prev {
			t.Fatalf("not ordered by code: %s after %s", code, prev)
		}
		prev = code
		s := byCode[code]
		for k, v := range it {
			if jsonType(v) != jsonType(s[k]) {
				t.Fatalf("%s.%s: type %s, sample %s", code, k, jsonType(v), jsonType(s[k]))
			}
		}
		if string(it["lat"]) != string(s["lat"]) || string(it["lng"]) != string(s["lng"]) {
			t.Fatalf("%s: coordinates %s,%s, sample %s,%s", code, it["lat"], it["lng"], s["lat"], s["lng"])
		}
	}
	// Page past the end: count 0.
	res = env.get(t, "/corona19-masks/v1/stores/json?page=2")
	res.json(t, &body)
	if res.code != 200 || body.Count != 0 || len(body.StoreInfos) != 0 {
		t.Fatalf("page 2: %d %s", res.code, res.body)
	}
	env.get(t, "/corona19-masks/v1/stores/json?page=x").wantError(t, 400, publicmask.EBadRequest)
}

func TestFullPagesHaveExactlyPerPage(t *testing.T) {
	var outlets []publicmask.Outlet
	for i := 0; i < 1234; i++ {
		outlets = append(outlets, publicmask.Outlet{Code: fmt.Sprintf("%08d", 99999999-i*3), Name: "x", Addr: "서울특별시 중구",
			Type: "01", Lat: 37.5, Lng: 127})
	}
	env := newEnv(t, outlets, Options{})
	var seen []string
	for page := 1; ; page++ {
		var body struct {
			Count      int
			Page       string
			Sales      []struct{ Code string }
			TotalPages int
		}
		env.get(t, fmt.Sprintf("/corona19-masks/v1/sales/json?page=%d", page)).json(t, &body)
		if body.Page != fmt.Sprint(page) || body.TotalPages != 3 || body.Count != len(body.Sales) {
			t.Fatalf("page %d: %+v", page, body)
		}
		for _, s := range body.Sales {
			seen = append(seen, s.Code)
		}
		if body.Count < 500 { // how 2020 clients stopped
			break
		}
	}
	if len(seen) != 1234 || !slices.IsSorted(seen) {
		t.Fatalf("paged %d codes, sorted %v", len(seen), slices.IsSorted(seen))
	}
	var big struct{ Count int }
	env.get(t, "/corona19-masks/v1/sales/json?perPage=99999").json(t, &big)
	if big.Count != 1234 {
		t.Fatalf("perPage 99999 (clamped to 5000) gave %d", big.Count)
	}
}

func TestSalesBandsAndNulls(t *testing.T) {
	env, recs := gangbukEnv(t, Options{})
	var body struct {
		Sales []map[string]json.RawMessage
	}
	res := env.get(t, "/corona19-masks/v1/sales/json")
	res.json(t, &body)
	if len(body.Sales) != 222 {
		t.Fatalf("%d sales", len(body.Sales))
	}
	got := map[string]map[string]json.RawMessage{}
	for _, s := range body.Sales {
		if ks := sortedKeys(s); !slices.Equal(ks, []string{"code", "created_at", "remain_stat", "stock_at"}) {
			t.Fatalf("sales keys %v", ks)
		}
		var c string
		json.Unmarshal(s["code"], &c)
		got[c] = s
	}
	bands := map[string]int{}
	for _, r := range recs {
		s := got[r.str("code")]
		want := "null"
		if !r.isNull("remain_stat") {
			want = `"` + r.str("remain_stat") + `"`
		}
		if string(s["remain_stat"]) != want {
			t.Fatalf("%s: remain_stat %s, want %s", r.str("code"), s["remain_stat"], want)
		}
		bands[want]++
		if r.isNull("remain_stat") {
			if string(s["stock_at"]) != "null" || string(s["created_at"]) != "null" {
				t.Fatalf("%s never stocked: %s", r.str("code"), mustJSON(s))
			}
		} else if string(s["stock_at"]) != string(r["stock_at"]) || string(s["created_at"]) != string(r["created_at"]) {
			// Times round-trip through time.Time and come back in the 2020 format.
			t.Fatalf("%s: times %s %s, sample %s %s", r.str("code"), s["stock_at"], s["created_at"], r["stock_at"], r["created_at"])
		}
	}
	want := map[string]int{`"plenty"`: 178, `"break"`: 15, `"some"`: 13, `"empty"`: 6, `"few"`: 4, "null": 6}
	for k, n := range want {
		if bands[k] != n {
			t.Fatalf("band %s: %d, want %d (all: %v)", k, bands[k], n, bands)
		}
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestStoresByGeoMatchesSampleShapeAndBruteForce(t *testing.T) {
	env, recs := gangbukEnv(t, Options{})
	byCode := map[string]sampleRecord{}
	for _, r := range recs {
		byCode[r.str("code")] = r
	}
	lat, lng := 37.6359, 127.0253 // inside the sample's area
	for _, m := range []float64{300, 1000, 2500} {
		res := env.get(t, fmt.Sprintf("/corona19-masks/v1/storesByGeo/json?lat=%v&lng=%v&m=%v", lat, lng, m))
		if res.code != 200 {
			t.Fatalf("m=%v: %d %s", m, res.code, res.body)
		}
		var body struct {
			Count  int
			Stores []map[string]json.RawMessage
		}
		res.json(t, &body)
		var want []string
		for _, r := range recs {
			if haversine(lat, lng, r.num("lat"), r.num("lng")) <= m {
				want = append(want, r.str("code"))
			}
		}
		if body.Count != len(want) || len(body.Stores) != len(want) || len(want) == 0 {
			t.Fatalf("m=%v: count %d/%d, brute force %d", m, body.Count, len(body.Stores), len(want))
		}
		prevD := -1.0
		var got []string
		for _, st := range body.Stores {
			if ks := sortedKeys(st); !slices.Equal(ks, nineKeys) {
				t.Fatalf("keys %v, want the nine of the sample", ks)
			}
			var code string
			json.Unmarshal(st["code"], &code)
			got = append(got, code)
			s := byCode[code]
			for _, k := range nineKeys {
				if _, ok := s[k]; !ok || (k == "created_at" && s.isNull("remain_stat")) {
					continue // the 2020 record without stock keys; ours is null as the contract says
				}
				if jsonType(st[k]) != jsonType(s[k]) {
					t.Fatalf("%s.%s: %s (%s), sample %s (%s)", code, k, jsonType(st[k]), st[k], jsonType(s[k]), s[k])
				}
			}
			d := haversine(lat, lng, s.num("lat"), s.num("lng"))
			if d < prevD-1e-6 {
				t.Fatalf("not nearest first: %v after %v", d, prevD)
			}
			prevD = d
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("m=%v: set differs from brute force", m)
		}
	}
	// m=10000 is clamped to 5000, not refused.
	var c10, c5 struct{ Count int }
	env.get(t, fmt.Sprintf("/corona19-masks/v1/storesByGeo/json?lat=%v&lng=%v&m=10000", lat, lng)).json(t, &c10)
	env.get(t, fmt.Sprintf("/corona19-masks/v1/storesByGeo/json?lat=%v&lng=%v&m=5000", lat, lng)).json(t, &c5)
	n5 := 0
	for _, r := range recs {
		if haversine(lat, lng, r.num("lat"), r.num("lng")) <= 5000 {
			n5++
		}
	}
	if c10.Count != n5 || c5.Count != n5 {
		t.Fatalf("m=10000 → %d, m=5000 → %d, brute force at 5000 m → %d", c10.Count, c5.Count, n5)
	}
	// Default m is 1000.
	var cd, c1 struct{ Count int }
	env.get(t, fmt.Sprintf("/corona19-masks/v1/storesByGeo/json?lat=%v&lng=%v", lat, lng)).json(t, &cd)
	env.get(t, fmt.Sprintf("/corona19-masks/v1/storesByGeo/json?lat=%v&lng=%v&m=1000", lat, lng)).json(t, &c1)
	if cd.Count != c1.Count {
		t.Fatalf("default m: %d, m=1000: %d", cd.Count, c1.Count)
	}
	for _, q := range []string{"lat=50&lng=127", "lat=37.6&lng=140", "lng=127", "lat=37.6", "lat=abc&lng=127", "lat=NaN&lng=127",
		"lat=37.6&lng=127&m=x", "lat=%zz&lng=127",
		// Go's number syntax is not a query's: hex, digit separators and
		// infinities are malformed parameters (§4.1), not numbers to clamp.
		"lat=0x1.2Cp5&lng=127", "lat=3_7.6&lng=127", "lat=37.6&lng=1_27", "lat=37.6&lng=127&m=Inf",
		"lat=37.6&lng=127&m=%2Binfinity", "lat=37.6&lng=127&m=-inf", "lat=37.6&lng=127&m=1_000", "lat=37.6&lng=127&m=0x1p10"} {
		env.get(t, "/corona19-masks/v1/storesByGeo/json?"+q).wantError(t, 400, publicmask.EBadRequest)
	}
	// What 2020 clients sent stays a number: a sign, an exponent, a bare point.
	for _, q := range []string{"lat=%2B37.6&lng=127.&m=1e3", "lat=37.6e0&lng=127&m=.5e4", "lat=37.6&lng=127&m=-5"} {
		if r := env.get(t, "/corona19-masks/v1/storesByGeo/json?"+q); r.code != 200 {
			t.Fatalf("%s: %d %s", q, r.code, r.body)
		}
	}
}

func TestStoresByAddr(t *testing.T) {
	env, recs := gangbukEnv(t, Options{})
	var want []string
	for _, r := range recs {
		if strings.Contains(r.str("addr"), "(미아동") {
			want = append(want, r.str("code"))
		}
	}
	q := url.QueryEscape("서울특별시 강북구 미아동")
	res := env.get(t, "/corona19-masks/v1/storesByAddr/json?address="+q)
	var body struct {
		Address string
		Count   int
		Stores  []map[string]json.RawMessage
	}
	res.json(t, &body)
	var got []string
	for _, s := range body.Stores {
		var c string
		json.Unmarshal(s["code"], &c)
		got = append(got, c)
		if ks := sortedKeys(s); !slices.Equal(ks, nineKeys) {
			t.Fatalf("keys %v", ks)
		}
	}
	slices.Sort(want)
	if res.code != 200 || body.Address != "서울특별시 강북구 미아동" || body.Count != len(want) || !slices.Equal(got, want) || len(want) == 0 {
		t.Fatalf("미아동: %d, address %q, got %v, want %v", res.code, body.Address, got, want)
	}
	// A whole 구 (the sample also holds 도봉구 and 노원구 outlets).
	env.get(t, "/corona19-masks/v1/storesByAddr/json?address="+url.QueryEscape("서울특별시 강북구")).json(t, &body)
	if body.Count != 99 {
		t.Fatalf("강북구: %d, want 99", body.Count)
	}
	for _, a := range []string{"서울특별시", "서울", "", "없는동", "hello"} {
		env.get(t, "/corona19-masks/v1/storesByAddr/json?address="+url.QueryEscape(a)).wantError(t, 400, publicmask.EBadRequest)
	}
	// A 동 alone, unique among the outlets, is that 동.
	env.get(t, "/corona19-masks/v1/storesByAddr/json?address="+url.QueryEscape("미아동")).json(t, &body)
	if body.Count != len(want) {
		t.Fatalf("미아동 alone: %d, want %d", body.Count, len(want))
	}
	env.get(t, "/corona19-masks/v1/storesByAddr/json").wantError(t, 400, publicmask.EBadRequest)
}

func TestStoresByAddrYongsanSample(t *testing.T) {
	recs := loadSample(t, yongsanSample)
	// The Yongsan stores among the Gangbuk ones, as in a national list.
	outlets := append(outletsFromSample(t, recs), outletsFromSample(t, loadSample(t, gangbukSample))...)
	env := newEnv(t, outlets, Options{})
	res := env.get(t, "/corona19-masks/v1/storesByAddr/json?address="+url.QueryEscape("서울특별시 용산구 보광동"))
	var body struct {
		Address string
		Count   int
		Stores  []map[string]json.RawMessage
	}
	res.json(t, &body)
	if res.code != 200 || body.Count != len(recs) || len(recs) != 9 {
		t.Fatalf("보광동: status %d, count %d, want %d", res.code, body.Count, len(recs))
	}
	for i, s := range body.Stores {
		r := recs[i] // the 2020 answer was in code order too
		for _, k := range nineKeys {
			if string(s[k]) != string(r[k]) {
				t.Fatalf("%s.%s = %s, 2020 said %s", r.str("code"), k, s[k], r[k])
			}
		}
	}
}

func TestConditionalAndGzip(t *testing.T) {
	env, _ := gangbukEnv(t, Options{MaxAge: 3})
	for _, u := range []string{
		"/corona19-masks/v1/stores/json", "/corona19-masks/v1/sales/json",
		"/corona19-masks/v1/storesByGeo/json?lat=37.6359&lng=127.0253",
		"/corona19-masks/v1/storesByAddr/json?address=" + url.QueryEscape("서울특별시 강북구"),
		"/api/v2/outlets/near?lat=37.6359&lng=127.0253", "/api/v2/outlets/11817488", "/api/v2/summary",
	} {
		plain := env.get(t, u)
		if plain.code != 200 {
			t.Fatalf("%s: %d %s", u, plain.code, plain.body)
		}
		tag := plain.header.Get("ETag")
		if tag == "" || plain.header.Get("Cache-Control") != "public, max-age=3" ||
			plain.header.Get("X-Data-Version") == "" || plain.header.Get("X-Data-As-Of") == "" {
			t.Fatalf("%s: headers %v", u, plain.header)
		}
		if _, err := time.Parse(time.RFC3339, plain.header.Get("X-Data-As-Of")); err != nil {
			t.Fatalf("%s: X-Data-As-Of: %v", u, err)
		}
		nm := env.get(t, u, "If-None-Match", tag)
		if nm.code != 304 || len(nm.body) != 0 || nm.header.Get("ETag") != tag {
			t.Fatalf("%s: If-None-Match → %d", u, nm.code)
		}
		if other := env.get(t, u, "If-None-Match", `"0-x"`); other.code != 200 {
			t.Fatalf("%s: foreign ETag → %d", u, other.code)
		}
		gz := env.get(t, u, "Accept-Encoding", "gzip, deflate")
		if gz.header.Get("Content-Encoding") != "gzip" || string(gz.body) != string(plain.body) || gz.header.Get("ETag") == tag {
			t.Fatalf("%s: gzip %q, same body %v, etag %s vs %s", u, gz.header.Get("Content-Encoding"),
				string(gz.body) == string(plain.body), gz.header.Get("ETag"), tag)
		}
		if env.get(t, u, "Accept-Encoding", "gzip", "If-None-Match", gz.header.Get("ETag")).code != 304 {
			t.Fatalf("%s: gzip ETag not honoured", u)
		}
		if !strings.Contains(gz.header.Get("Vary"), "Accept-Encoding") {
			t.Fatalf("%s: no Vary", u)
		}
	}
	// A new version invalidates the ETag.
	u := "/corona19-masks/v1/sales/json"
	tag := env.get(t, u).header.Get("ETag")
	o := env.src.get("11817488")
	o.Stock = 0
	env.r.Notify([]publicmask.Outlet{env.src.put(o)})
	waitFor(t, "new version", func() bool { return env.get(t, u, "If-None-Match", tag).code == 200 })
}
