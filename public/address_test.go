package public

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testdata"
)

// The April 2020 national list, read plainly for the direct scans below:
// these helpers know nothing of the snapshot's place index.

type listRow struct {
	code, addr string
	sido       string   // official
	si, gu     string   // "수원시" "장안구"; "강남구" ""
	rest       []string // tokens after the 시군구
	paren      string   // first item of the last parenthesis
}

// sidoLess are the first tokens of the list's addresses that leave out the
// 시도 (and, for 홍천군's post offices, the 시군구), with what they stand for,
// read off the list by hand (DESIGN.md §6.10: the four 고성군 are in 강원도).
var sidoLess = map[string]string{
	"진주시": "경상남도 진주시", "합천군": "경상남도 합천군", "정읍시": "전라북도 정읍시", "아산시": "충청남도 아산시",
	"완주군": "전라북도 완주군", "의령군": "경상남도 의령군", "파주시": "경기도 파주시", "횡성군": "강원도 횡성군",
	"남해군": "경상남도 남해군", "강릉시": "강원도 강릉시", "남양주시": "경기도 남양주시", "태안군": "충청남도 태안군",
	"통영시": "경상남도 통영시", "원주시": "강원도 원주시", "단양군": "충청북도 단양군", "용인시": "경기도 용인시",
	"사천시": "경상남도 사천시", "춘천시": "강원도 춘천시", "양구군": "강원도 양구군", "고성군": "강원도 고성군",
	"창원시": "경상남도 창원시", "거제시": "경상남도 거제시", "부산시": "부산광역시", "전북김제시": "전라북도 김제시",
	"전북군산시": "전라북도 군산시", "경남거창군": "경상남도 거창군",
	"내면": "강원도 홍천군 내면", "동면": "강원도 홍천군 동면", "서면": "강원도 홍천군 서면", "서석면": "강원도 홍천군 서석면",
	"홍천읍": "강원도 홍천군 홍천읍", "남면": "강원도 홍천군 남면", "두촌면": "강원도 홍천군 두촌면",
	"북방면": "강원도 홍천군 북방면", "화촌면": "강원도 홍천군 화촌면", "내촌면": "강원도 홍천군 내촌면",
}

var sidoFull = map[string]string{"서울": "서울특별시", "대전": "대전광역시", "경기": "경기도", "부산": "부산광역시", "경남": "경상남도",
	"충북": "충청북도", "전북": "전라북도", "강원": "강원도", "대구": "대구광역시", "인천": "인천광역시"}

func loadList(tb testing.TB) ([]listRow, []publicmask.Outlet) {
	tb.Helper()
	recs := testdata.CSV(tb, testdata.Path(tb, "outlets-2020/stores-2020-04.csv"))
	var rows []listRow
	var outlets []publicmask.Outlet
	for _, r := range recs[1:] {
		lat, _ := strconv.ParseFloat(r[4], 64)
		lng, _ := strconv.ParseFloat(r[5], 64)
		outlets = append(outlets, publicmask.Outlet{Code: r[0], Name: r[1], Addr: r[2], Type: r[3], Lat: lat, Lng: lng, Stock: 50})
		rows = append(rows, readRow(r[0], r[2]))
	}
	return rows, outlets
}

func readRow(code, addr string) listRow {
	row := listRow{code: code, addr: addr}
	a := addr
	first, _, _ := strings.Cut(a, " ")
	if full, ok := sidoLess[first]; ok {
		a = full + a[len(first):]
	}
	a = strings.Replace(a, "경기도 안성 ", "경기도 안성시 ", 1)
	t := strings.Fields(a)
	row.sido = t[0]
	i := 1
	if i < len(t) && sggRe.MatchString(t[i]) {
		row.si = t[i]
		i++
		if strings.HasSuffix(row.si, "시") && i < len(t) && guRe.MatchString(t[i]) {
			row.gu = t[i]
			i++
		}
	}
	row.rest = t[i:]
	if open := strings.LastIndex(addr, "("); open >= 0 {
		in := strings.TrimSuffix(strings.TrimSpace(addr[open+1:]), ")")
		in, _, _ = strings.Cut(in, ",")
		row.paren = strings.TrimSpace(strings.TrimSuffix(in, ")"))
	}
	return row
}

func (r listRow) sigungu() string { return strings.TrimSpace(r.si + " " + r.gu) }

var (
	sggRe      = regexp.MustCompile(`^[가-힣]+[시군구]$`)
	guRe       = regexp.MustCompile(`^[가-힣]+구$`)
	numberedRe = regexp.MustCompile(`^([가-힣]+)[0-9.·]+동$`)
	dongRe     = regexp.MustCompile(`^[가-힣][가-힣0-9]*[동읍면가]$`)
	roadRe     = regexp.MustCompile(`^([가-힣][가-힣0-9]*[로길])(\d+(?:-\d+)?)?$`)
	branchRe   = regexp.MustCompile(`^\d+번?길$`)
	numRe      = regexp.MustCompile(`^\d+(?:-\d+)?$`)
)

// dong is the 법정동 (or 읍/면) the address names: inline after the 시군구,
// else in the parenthesis.
func (r listRow) dong() string {
	if len(r.rest) > 0 && dongRe.MatchString(r.rest[0]) {
		return r.rest[0]
	}
	if dongRe.MatchString(r.paren) {
		return r.paren
	}
	return ""
}

// road is the road name and building number, after an inline 읍/면/동.
func (r listRow) road() (string, string) {
	rest := r.rest
	if len(rest) > 0 && dongRe.MatchString(rest[0]) {
		rest = rest[1:]
	}
	if len(rest) == 0 {
		return "", ""
	}
	m := roadRe.FindStringSubmatch(rest[0])
	if m == nil {
		return "", ""
	}
	road, num := m[1], m[2]
	if num == "" && len(rest) > 1 && branchRe.MatchString(rest[1]) {
		road += rest[1]
		rest = rest[1:]
	}
	if num == "" && len(rest) > 1 && numRe.MatchString(rest[1]) {
		num = rest[1]
	}
	return road, num
}

// dongMatches: a typed 동 names the 법정동 of that name, those that extend it
// with "N가", and for a numbered 행정동 ("논현1동") those of its 법정동. An
// address that names a numbered 행정동 is in its 법정동.
func dongMatches(have, typed string) bool {
	if have == "" {
		return false
	}
	if m := numberedRe.FindStringSubmatch(have); m != nil {
		have = m[1] + "동"
	}
	names := []string{typed}
	if m := numberedRe.FindStringSubmatch(typed); m != nil {
		names = append(names, m[1]+"동")
	}
	for _, n := range names {
		if rest, ok := strings.CutPrefix(have, n); ok && (rest == "" || strings.HasSuffix(n, "동") && numRe.MatchString(strings.TrimSuffix(rest, "가")) && strings.HasSuffix(rest, "가")) {
			return true
		}
	}
	return false
}

// addrQuery is a typed address in parts; scan finds its outlets.
type addrQuery struct {
	sido, sigungu, dong, road, bldg string
	text                            string // as typed (sido possibly abbreviated)
}

// scan is the direct answer: the outlets in each area the query could mean
// (keyed by the candidate label), by reading every address of the list.
func scan(rows []listRow, q addrQuery) map[string][]string {
	groups := map[string][]string{}
	for _, r := range rows {
		if q.sido != "" && r.sido != q.sido {
			continue
		}
		area := r.sido
		if r.si != "" {
			area += " " + r.sigungu()
		}
		if q.sigungu != "" {
			switch q.sigungu {
			case r.sigungu():
			case r.si:
				area = r.sido + " " + r.si
			case r.gu:
			default:
				continue
			}
		}
		label := area
		switch {
		case q.dong != "":
			if !dongMatches(r.dong(), q.dong) {
				continue
			}
			label += " " + q.dong
		case q.road != "":
			road, num := r.road()
			if road != q.road || (q.bldg != "" && num != q.bldg) {
				continue
			}
			label += " " + q.road
			if q.bldg != "" {
				label += " " + q.bldg
			}
		}
		groups[label] = append(groups[label], r.code)
	}
	return groups
}

// TestStoresByAddrNational: over the April 2020 list, every query that names
// one place returns exactly the outlets a direct scan finds; every query that
// names several is 400 ambiguous_address with the scan's candidates.
func TestStoresByAddrNational(t *testing.T) {
	rows, outlets := loadList(t)
	env := newEnv(t, outlets, Options{})
	queries := []addrQuery{
		// The contract's examples.
		{text: "서울특별시 강남구 논현동", sido: "서울특별시", sigungu: "강남구", dong: "논현동"},
		{text: "경기도 수원시 장안구", sido: "경기도", sigungu: "수원시 장안구"},
		{text: "경기도 파주시 파주읍", sido: "경기도", sigungu: "파주시", dong: "파주읍"},
		// What people type (DESIGN.md §4.1).
		{text: "서울특별시 중구 명동", sido: "서울특별시", sigungu: "중구", dong: "명동"},
		{text: "서울특별시 강남구 논현1동", sido: "서울특별시", sigungu: "강남구", dong: "논현1동"},
		{text: "서울 강남구 논현1동", sido: "서울특별시", sigungu: "강남구", dong: "논현1동"},
		{text: "용인시 처인구", sigungu: "용인시 처인구"},
		{text: "처인구", sigungu: "처인구"},
		{text: "강남구 논현동", sigungu: "강남구", dong: "논현동"},
		{text: "강남구", sigungu: "강남구"},
		{text: "창원시 의창구 대산면", sigungu: "창원시 의창구", dong: "대산면"},
		{text: "경기 수원시", sido: "경기도", sigungu: "수원시"},
		{text: "강북구 솔매로", sigungu: "강북구", road: "솔매로"},
		{text: "솔매로", road: "솔매로"},
		{text: "솔매로 38", road: "솔매로", bldg: "38"},
		{text: "중구", sigungu: "중구"},
		{text: "강서구", sigungu: "강서구"},
		{text: "고성군", sigungu: "고성군"},
		{text: "논현동", dong: "논현동"},
		{text: "고성군 거진읍", sigungu: "고성군", dong: "거진읍"},
		{text: "강원도 고성군", sido: "강원도", sigungu: "고성군"},
		{text: "중구 명동", sigungu: "중구", dong: "명동"},
		{text: "명동", dong: "명동"},
		{text: "종로구 종로5가", sigungu: "종로구", dong: "종로5가"},
		{text: "대전 서구 월평2동", sido: "대전광역시", sigungu: "서구", dong: "월평2동"},
		{text: "천안시 광덕면", sigungu: "천안시", dong: "광덕면"},
		{text: "부산 중구 중앙동", sido: "부산광역시", sigungu: "중구", dong: "중앙동"},
		{text: "중앙동", dong: "중앙동"},
		{text: "세종특별자치시 조치원읍", sido: "세종특별자치시", dong: "조치원읍"},
		{text: "홍천군 서석면", sigungu: "홍천군", dong: "서석면"},
		{text: "경기도 안성시", sido: "경기도", sigungu: "안성시"},
		// A 시군구 typed without its 시/군/구.
		{text: "수원 장안구", sigungu: "수원시 장안구"},
		{text: "고성 거진읍", sigungu: "고성군", dong: "거진읍"},
		{text: "강남 논현동", sigungu: "강남구", dong: "논현동"},
		{text: "경기 안성 금광면", sido: "경기도", sigungu: "안성시", dong: "금광면"},
		{text: "고성", sigungu: "고성군"},
	}
	// And queries drawn from the list's own addresses, in several shapes.
	seen := map[string]bool{}
	for _, q := range queries {
		seen[q.text] = true
	}
	drawn := 0
	for k := 0; drawn < 48 && k < len(rows); k++ {
		r := rows[(k*7919+13)%len(rows)]
		if r.si == "" {
			continue
		}
		var q addrQuery
		sgg, d := r.sigungu(), r.dong()
		road, num := r.road()
		short := map[string]string{}
		for s, full := range sidoFull {
			short[full] = s
		}
		switch k % 7 {
		case 0:
			q = addrQuery{text: r.sido + " " + sgg, sido: r.sido, sigungu: sgg}
		case 1:
			if d == "" {
				continue
			}
			q = addrQuery{text: sgg + " " + d, sigungu: sgg, dong: d}
		case 2:
			if road == "" {
				continue
			}
			q = addrQuery{text: r.sido + " " + sgg + " " + road, sido: r.sido, sigungu: sgg, road: road}
		case 3:
			if road == "" || num == "" {
				continue
			}
			q = addrQuery{text: road + " " + num, road: road, bldg: num}
		case 4:
			if d == "" {
				continue
			}
			q = addrQuery{text: d, dong: d}
		case 5:
			if r.gu == "" || d == "" {
				continue
			}
			q = addrQuery{text: r.gu + " " + d, sigungu: r.gu, dong: d}
		case 6:
			s, ok := short[r.sido]
			if !ok || d == "" {
				continue
			}
			q = addrQuery{text: s + " " + sgg + " " + d, sido: r.sido, sigungu: sgg, dong: d}
		}
		if seen[q.text] {
			continue
		}
		seen[q.text] = true
		queries = append(queries, q)
		drawn++
	}
	if drawn < 30 {
		t.Fatalf("only %d queries drawn from the list", drawn)
	}
	var unique, ambiguous int
	for _, q := range queries {
		want := scan(rows, q)
		if len(want) == 0 {
			t.Errorf("%q: the scan finds nothing (a bad test query)", q.text)
			continue
		}
		res := env.get(t, "/corona19-masks/v1/storesByAddr/json?address="+url.QueryEscape(q.text))
		if len(want) == 1 {
			unique++
			var body struct {
				Address string
				Count   int
				Stores  []struct{ Code string }
			}
			if res.code != 200 {
				t.Errorf("%q: status %d, want 200: %.300s", q.text, res.code, res.body)
				continue
			}
			res.json(t, &body)
			var got []string
			for _, s := range body.Stores {
				got = append(got, s.Code)
			}
			var codes []string
			for _, c := range want {
				codes = c
			}
			slices.Sort(codes)
			if body.Address != q.text || body.Count != len(got) || !slices.Equal(got, codes) {
				t.Errorf("%q: got %d outlets, the scan finds %d\n missing %v\n extra %v", q.text, len(got), len(codes),
					diff(codes, got), diff(got, codes))
			}
			continue
		}
		ambiguous++
		var body struct {
			Error      struct{ Code, Message string }
			Candidates []string
		}
		if res.code != 400 {
			t.Errorf("%q: status %d, want 400 ambiguous_address (%d places): %.200s", q.text, res.code, len(want), res.body)
			continue
		}
		res.json(t, &body)
		var cands []string
		for label := range want {
			cands = append(cands, label)
		}
		slices.Sort(cands)
		got := slices.Sorted(slices.Values(body.Candidates))
		if body.Error.Code != publicmask.EAmbiguousAddress || !slices.Equal(got, cands) {
			t.Errorf("%q: %s %v, want ambiguous_address %v", q.text, body.Error.Code, got, cands)
		}
		for _, c := range cands {
			if !strings.Contains(body.Error.Message, c) {
				t.Errorf("%q: message %q lacks candidate %q", q.text, body.Error.Message, c)
			}
		}
		// Each candidate names one place.
		for _, c := range cands[:min(len(cands), 3)] {
			if r := env.get(t, "/corona19-masks/v1/storesByAddr/json?address="+url.QueryEscape(c)); r.code != 200 {
				t.Errorf("candidate %q of %q: status %d", c, q.text, r.code)
			}
		}
	}
	t.Logf("%d queries (%d drawn from the list): %d name one place, %d are ambiguous", len(queries), drawn, unique, ambiguous)
	if unique < 30 || ambiguous < 5 {
		t.Errorf("too few of a kind: %d unique, %d ambiguous", unique, ambiguous)
	}
	// A 시도 alone is refused as the contract says.
	for _, a := range []string{"서울", "서울특별시", "경기도", "세종특별자치시"} {
		env.get(t, "/corona19-masks/v1/storesByAddr/json?address="+url.QueryEscape(a)).wantError(t, 400, publicmask.EBadRequest)
	}
}

func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// TestPlacesNational: prefix suggestions over the April 2020 list, ranked by
// match quality then outlet count; counts agree with storesByAddr.
func TestPlacesNational(t *testing.T) {
	_, outlets := loadList(t)
	env := newEnv(t, outlets, Options{})
	type place struct {
		Label, Kind string
		Lat, Lng    *float64
		Outlets     int
	}
	get := func(q string, limit int) []place {
		t.Helper()
		u := "/api/v2/places?q=" + url.QueryEscape(q)
		if limit > 0 {
			u += "&limit=" + strconv.Itoa(limit)
		}
		res := env.get(t, u)
		if res.code != 200 {
			t.Fatalf("%s: %d %s", u, res.code, res.body)
		}
		var body struct{ Places []place }
		res.json(t, &body)
		return body.Places
	}
	cases := []struct {
		q         string
		first     string
		kind      string
		contains  []string
		exactlyOf int // the number of results when the prefix names fewer than the limit
	}{
		{q: "논현", first: "서울특별시 강남구 논현동", kind: "dong", contains: []string{"인천광역시 남동구 논현동", "서울특별시 강남구 논현로"}},
		{q: "서울", first: "서울특별시", kind: "sido"},
		{q: "충북", first: "충청북도", kind: "sido", exactlyOf: 1},
		{q: "강남구", first: "서울특별시 강남구", kind: "sigungu"},
		{q: "처인", first: "경기도 용인시 처인구", kind: "sigungu"},
		{q: "솔매", first: "서울특별시 강북구 솔매로", kind: "road", exactlyOf: 1},
		{q: "서울 강남구 논", first: "서울특별시 강남구 논현동", kind: "dong"},
		{q: "중구", first: "서울특별시 중구", kind: "sigungu", contains: []string{"부산광역시 중구", "인천광역시 중구"}},
		{q: "명동", first: "서울특별시 중구 명동", kind: "dong", contains: []string{"서울특별시 중구 명동1가", "충청북도 제천시 명동"}},
	}
	for _, c := range cases {
		ps := get(c.q, 0)
		if len(ps) == 0 || ps[0].Label != c.first || ps[0].Kind != c.kind {
			t.Errorf("%q: first %+v, want %s (%s)", c.q, ps, c.first, c.kind)
			continue
		}
		if len(ps) > 10 || (c.exactlyOf > 0 && len(ps) != c.exactlyOf) {
			t.Errorf("%q: %d places", c.q, len(ps))
		}
		for _, want := range c.contains {
			if !slices.ContainsFunc(ps, func(p place) bool { return p.Label == want }) {
				t.Errorf("%q: %s not suggested: %+v", c.q, want, ps)
			}
		}
		for i, p := range ps {
			if p.Lat == nil || p.Lng == nil || *p.Lat < 33 || *p.Lat > 43 || *p.Lng < 124 || *p.Lng > 132 {
				t.Errorf("%q: %s has no position in Korea", c.q, p.Label)
			}
			// Within one quality (all these are prefixes of the place's
			// own name), more outlets first.
			own := func(p place) string { return p.Label[strings.LastIndex(p.Label, " ")+1:] }
			if i > 0 && !strings.Contains(c.q, " ") && p.Outlets > ps[i-1].Outlets &&
				strings.HasPrefix(own(p), c.q) && strings.HasPrefix(own(ps[i-1]), c.q) && own(p) != c.q && own(ps[i-1]) != c.q {
				t.Errorf("%q: %s (%d) after %s (%d)", c.q, p.Label, p.Outlets, ps[i-1].Label, ps[i-1].Outlets)
			}
			// A suggestion is a v1 address for exactly its outlets.
			if p.Kind == "sido" {
				continue
			}
			var body struct{ Count int }
			res := env.get(t, "/corona19-masks/v1/storesByAddr/json?address="+url.QueryEscape(p.Label))
			res.json(t, &body)
			if res.code != 200 || body.Count != p.Outlets {
				t.Errorf("%q: suggestion %s says %d outlets; storesByAddr: %d %d", c.q, p.Label, p.Outlets, res.code, body.Count)
			}
		}
	}
	if ps := get("논현", 2); len(ps) != 2 {
		t.Errorf("limit=2: %d places", len(ps))
	}
	if ps := get("없는곳이름", 0); len(ps) != 0 {
		t.Errorf("nonsense: %+v", ps)
	}
	for _, u := range []string{"/api/v2/places", "/api/v2/places?q=", "/api/v2/places?q=a&limit=x"} {
		env.get(t, u).wantError(t, 400, publicmask.EBadRequest)
	}
	raw := env.get(t, "/api/v2/places?q="+url.QueryEscape("논현")).body
	var generic map[string][]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	if ks := sortedKeys(generic["places"][0]); !slices.Equal(ks, []string{"kind", "label", "lat", "lng", "outlets"}) {
		t.Errorf("place keys %v", ks)
	}
}
