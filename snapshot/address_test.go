package snapshot

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	publicmask "github.com/publicmask/publicmask"
)

func TestParseAddress(t *testing.T) {
	type A = Address
	cases := []struct {
		in   string
		want Address
	}{
		{"서울특별시 강북구 솔매로 38 (미아동)", A{Sido: "서울특별시", Sigungu: "강북구", Dong: "미아동", Road: "솔매로", Bldg: "38"}},
		{"서울특별시 강북구 솔샘로 254 2층 2호 (미아동, 삼양아케이트)", A{Sido: "서울특별시", Sigungu: "강북구", Dong: "미아동", Road: "솔샘로", Bldg: "254"}},
		{"서울특별시 용산구  장문로  114-1 (보광동)", A{Sido: "서울특별시", Sigungu: "용산구", Dong: "보광동", Road: "장문로", Bldg: "114-1"}},
		{"서울특별시 용산구 보광동 123", A{Sido: "서울특별시", Sigungu: "용산구", Dong: "보광동"}},
		{"경기도 파주시 파주읍 파주로 1", A{Sido: "경기도", Sigungu: "파주시", Dong: "파주읍", Road: "파주로", Bldg: "1"}},
		{"경기도 파주시 파주읍 연풍리 123", A{Sido: "경기도", Sigungu: "파주시", Dong: "파주읍", Ri: "연풍리"}},
		{"경기도 수원시 장안구 정자로 1 (정자동)", A{Sido: "경기도", Sigungu: "수원시 장안구", Dong: "정자동", Road: "정자로", Bldg: "1"}},
		{"경기도 수원시 장안구", A{Sido: "경기도", Sigungu: "수원시 장안구"}},
		{"경기도 수원시 권선구 금곡로 202 108호 (금곡동, e-SPACECITY-1)", A{Sido: "경기도", Sigungu: "수원시 권선구", Dong: "금곡동", Road: "금곡로", Bldg: "202"}},
		{"충청남도 홍성군 갈산면 상촌로 12-1", A{Sido: "충청남도", Sigungu: "홍성군", Dong: "갈산면", Road: "상촌로", Bldg: "12-1"}},
		{"서울특별시 중구 을지로3가 123", A{Sido: "서울특별시", Sigungu: "중구", Dong: "을지로3가"}},
		{"대구광역시 달성군 유가읍 테크노순환로12길 4 111,112호", A{Sido: "대구광역시", Sigungu: "달성군", Dong: "유가읍", Road: "테크노순환로12길", Bldg: "4"}},
		{"경상남도 양산시 삼호로 74 116동 (삼호동, 웅상신도시푸르지오아파트)", A{Sido: "경상남도", Sigungu: "양산시", Dong: "삼호동", Road: "삼호로", Bldg: "74"}},
		{"서울특별시 강남구 테헤란로 1", A{Sido: "서울특별시", Sigungu: "강남구", Road: "테헤란로", Bldg: "1"}},
		{"서울 강북구 미아동", A{Sido: "서울특별시", Sigungu: "강북구", Dong: "미아동"}},
		{"부산시 해운대구 우동 1", A{Sido: "부산광역시", Sigungu: "해운대구", Dong: "우동"}},
		{"경남거창군 거창읍 중앙로 1", A{Sido: "경상남도", Sigungu: "거창군", Dong: "거창읍", Road: "중앙로", Bldg: "1"}},
		{"강릉시 경강로 1 (임당동)", A{Sigungu: "강릉시", Dong: "임당동", Road: "경강로", Bldg: "1"}},
		{"세종특별자치시 조치원읍 새내로 1", A{Sido: "세종특별자치시", Dong: "조치원읍", Road: "새내로", Bldg: "1"}},
		{"세종특별자치시 한누리대로 1 (나성동)", A{Sido: "세종특별자치시", Dong: "나성동", Road: "한누리대로", Bldg: "1"}},
		// Data of the April 2020 list: glued numbers, branches written apart,
		// no 시군구.
		{"경상남도 통영시 용남면 남해안대로442", A{Sido: "경상남도", Sigungu: "통영시", Dong: "용남면", Road: "남해안대로", Bldg: "442"}},
		{"통영시 사량면 진촌2길6-23", A{Sigungu: "통영시", Dong: "사량면", Road: "진촌2길", Bldg: "6-23"}},
		{"용인시 처인구 남사면 처인성로 185번길 23", A{Sigungu: "용인시 처인구", Dong: "남사면", Road: "처인성로185번길", Bldg: "23"}},
		{"진주시 문산읍 동부로609번길 10", A{Sigungu: "진주시", Dong: "문산읍", Road: "동부로609번길", Bldg: "10"}},
		{"내면 창촌로 45-5", A{Dong: "내면", Road: "창촌로", Bldg: "45-5"}},
		{"횡성군 갑천면 청정로매일 3길 5", A{Sigungu: "횡성군", Dong: "갑천면"}},
		{"경기도 안성 고삼 고삼호수로 8", A{Sido: "경기도", Sigungu: "안성"}},
		{"서울특별시", A{Sido: "서울특별시"}},
		{"서울특별시 미아동 (미아동)", A{Sido: "서울특별시", Dong: "미아동"}},
		{"경기도 안성 금광면 금광초교길 71", A{Sido: "경기도", Sigungu: "안성", Dong: "금광면", Road: "금광초교길", Bldg: "71"}},
		{"충청북도 청주시 흥덕구 1순환로 511-1 (봉명동)", A{Sido: "충청북도", Sigungu: "청주시 흥덕구", Dong: "봉명동", Road: "1순환로", Bldg: "511-1"}},
		{"경상남도 창원시 마산회원구 3·15대로 778 (합성동)", A{Sido: "경상남도", Sigungu: "창원시 마산회원구", Dong: "합성동", Road: "3·15대로", Bldg: "778"}},
		{"제주특별자치도 제주시 1100로3283", A{Sido: "제주특별자치도", Sigungu: "제주시", Road: "1100로", Bldg: "3283"}},
		{"충청북도 청주시 서원구 1순환로1137번길 102 (분평동)", A{Sido: "충청북도", Sigungu: "청주시 서원구", Dong: "분평동", Road: "1순환로1137번길", Bldg: "102"}},
		{"경기도 화성시 향남읍 3.1만세로 1114", A{Sido: "경기도", Sigungu: "화성시", Dong: "향남읍", Road: "3.1만세로", Bldg: "1114"}},
		{"서울특별시 은평구 백련산로 84 211호 (응암동, 백련산 힐스테이트 2차(211동상가))", A{Sido: "서울특별시", Sigungu: "은평구", Dong: "응암동", Road: "백련산로", Bldg: "84"}},
		{"부산광역시 남구 유엔로 10 1층 (우암동, 104.105.106호(뉴서울아파트상가))", A{Sido: "부산광역시", Sigungu: "남구", Dong: "우암동", Road: "유엔로", Bldg: "10"}},
		{"서울특별시 중구 퇴계로 1 (가(나)다) (명동1가)", A{Sido: "서울특별시", Sigungu: "중구", Dong: "명동1가", Road: "퇴계로", Bldg: "1"}},
		{"경남, 거창군 거창읍", A{Sido: "경상남도", Sigungu: "거창군", Dong: "거창읍"}},
		{"서울특별시 용산구 우사단로4길 42-1, 1층 (보광동)", A{Sido: "서울특별시", Sigungu: "용산구", Dong: "보광동", Road: "우사단로4길", Bldg: "42-1"}},
		// An arcade in the parenthesis is no 동 (audit41b).
		{"서울특별시 강남구 봉은사로 1 (코아상가)", A{Sido: "서울특별시", Sigungu: "강남구", Road: "봉은사로", Bldg: "1"}},
		{"", A{}},
		{"  ", A{}},
		{"(미아동", A{Dong: "미아동"}},
	}
	for _, c := range cases {
		if got := ParseAddress(c.in); got != c.want {
			t.Errorf("ParseAddress(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestParseQuery(t *testing.T) {
	cases := []struct {
		in   string
		want query
	}{
		{"서울 강남구 논현1동", query{sido: "서울특별시", sidoTok: "서울", si: "강남구", dong: "논현1동"}},
		{"용인시 처인구", query{si: "용인시", gu: "처인구"}},
		{"창원시 의창구 대산면", query{si: "창원시", gu: "의창구", dong: "대산면"}},
		{"강북구 솔매로", query{si: "강북구", road: "솔매로"}},
		{"솔매로 38", query{road: "솔매로", bldg: "38"}},
		{"처인성로 185번길 23", query{road: "처인성로185번길", bldg: "23"}},
		{"경기도 파주시 파주읍 연풍리", query{sido: "경기도", sidoTok: "경기도", si: "파주시", dong: "파주읍", ri: "연풍리"}},
		{"서울특별시 강북구 솔매로 38 (미아동)", query{sido: "서울특별시", sidoTok: "서울특별시", si: "강북구", dong: "미아동", parenthesis: true}},
		{"상계3.4동", query{dong: "상계3.4동"}},
		{"중구", query{si: "중구"}},
		{"수원 장안구 정자동", query{si: "수원", gu: "장안구", stem: true, dong: "정자동"}},
		{"고성 거진읍", query{si: "고성", stem: true, dong: "거진읍"}},
		{"", query{}},
	}
	for _, c := range cases {
		if got := parseQuery(c.in); got != c.want {
			t.Errorf("parseQuery(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
	for in, want := range map[string]string{"논현1동": "논현동", "상계3.4동": "상계동", "논현동": "", "1동": "", "명동": "", "종로1·2·3·4가동": ""} {
		if got := hangjeongStem(in); got != want {
			t.Errorf("hangjeongStem(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"명동1가": "명동", "금호동2가": "금호동", "명동": "명동", "가": "가", "1가": "1가", "을지로3가": "을지로3가", "동1가": "동1가"} {
		if got := dongStem(in); got != want {
			t.Errorf("dongStem(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseAddress checks invariants that hold for any input: no panic;
// every part comes from the input (the 시도 possibly normalised); a parsed
// address written back out parses to itself; the query parser agrees with
// the address parser on what it reads and never panics either.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{
		"서울특별시 강북구 솔매로 38 (미아동)", "(미아동, 삼양아케이트)", "경기도 수원시 장안구",
		"경기도 파주시 파주읍 …", "서울특별시 용산구  장문로  114-1 (보광동)", "경남거창군 거창읍",
		"서울특별시 용산구 보광동 123", "((", "\xff\xfe", "세종특별자치시 (나성동)",
		"통영시 사량면 진촌2길6-23", "처인성로 185번길 23", "상계3.4동", "파주읍 연풍리", "로로로1-",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a := ParseAddress(s)
		if a.Sido != "" && NormalizeSido(a.Sido) != a.Sido {
			t.Fatalf("%q: Sido %q not official", s, a.Sido)
		}
		for _, part := range strings.Fields(a.Sigungu) {
			if !strings.Contains(s, part) {
				t.Fatalf("%q: Sigungu %q not in input", s, a.Sigungu)
			}
		}
		if a.Dong != "" && (!strings.Contains(s, a.Dong) || !isDongToken(a.Dong)) {
			t.Fatalf("%q: bad Dong %q", s, a.Dong)
		}
		if a.Ri != "" && (!strings.Contains(s, a.Ri) || !isRiToken(a.Ri) || !isEupMyeon(a.Dong)) {
			t.Fatalf("%q: bad Ri %q under %q", s, a.Ri, a.Dong)
		}
		if a.Road != "" && !(strings.HasSuffix(a.Road, "로") || strings.HasSuffix(a.Road, "길")) {
			t.Fatalf("%q: bad Road %q", s, a.Road)
		}
		if a.Bldg != "" && (a.Road == "" || !isBldgNum(a.Bldg) || !strings.Contains(s, a.Bldg)) {
			t.Fatalf("%q: bad Bldg %q on %q", s, a.Bldg, a.Road)
		}
		if a.Sido != "" && isSigunguToken(strings.Fields(a.Sigungu + " x")[0]) && a.Road == "" {
			s2 := a.Sido + " " + a.Sigungu + " " + a.Dong + " " + a.Ri
			if b := ParseAddress(s2); b != a {
				t.Fatalf("%q -> %+v, but %q -> %+v", s, a, s2, b)
			}
		}
		q := parseQuery(s)
		// A query ends at its parenthesis ("서울(" is 서울); an address does not.
		if q.sido != a.Sido && !strings.Contains(s, "(") {
			t.Fatalf("%q: query 시도 %q, address 시도 %q", s, q.sido, a.Sido)
		}
		if q.road != "" && !(strings.HasSuffix(q.road, "로") || strings.HasSuffix(q.road, "길")) {
			t.Fatalf("%q: bad query road %q", s, q.road)
		}
	})
}

// FuzzResolve: any typed address, against a small country of real address
// shapes, is answered with outlets of one place, an ambiguity listing
// places that each resolve, or bad_request; the suggestions for any text are
// at most the limit, each a place whose label resolves. Nothing panics.
func FuzzResolve(f *testing.F) {
	addrs := []string{
		"서울특별시 강북구 솔매로 38 (미아동)", "서울특별시 중구 명동길 1 (명동1가)", "서울특별시 중구 을지로 2 (명동2가)",
		"부산광역시 중구 중앙대로 1 (중앙동)", "서울특별시 강남구 논현로 1 (논현동)", "인천광역시 남동구 논현로 2 (논현동)",
		"경기도 용인시 처인구 모현읍 백옥대로 2366", "용인시 처인구 남사면 처인성로 185번길 23", "고성군 거진읍 거탄진로102",
		"강원도 고성군 간성읍 간성로 1", "경상남도 고성군 고성읍 중앙로 1", "내면 창촌로 45-5", "강원도 홍천군 내면 구룡령로 1",
		"세종특별자치시 한누리대로 1 (나성동)", "경기도 파주시 파주읍 연풍리 123", "경기도 광주시 오포읍 오포로 1",
	}
	var outs []publicmask.Outlet
	for i, a := range addrs {
		outs = append(outs, publicmask.Outlet{Code: strconv.Itoa(10000 + i), Addr: a, Lat: 37 + float64(i)/100, Lng: 127, Version: 1})
	}
	s := build(outs, 1, t0)
	for _, q := range []string{"중구", "논현", "명동", "솔매로 38", "서울", "고성군 거진읍", "파주읍 연풍리", "광주시", "(", "세종 나성동"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		es, err := s.ByAddress(q)
		var amb *AmbiguousError
		switch {
		case err == nil:
			if !slices.IsSortedFunc(es, func(a, b *Entry) int { return strings.Compare(a.Code(), b.Code()) }) {
				t.Fatalf("%q: not in code order", q)
			}
		case errors.As(err, &amb):
			if len(amb.Candidates) < 2 {
				t.Fatalf("%q: ambiguous with %v", q, amb.Candidates)
			}
		case publicmask.ErrorCode(err) != publicmask.EBadRequest:
			t.Fatalf("%q: %v", q, err)
		}
		for _, p := range s.Places(q, 3, nil) {
			if p.Kind == KindSido {
				continue
			}
			if es, err := s.ByAddress(p.Label); err != nil || len(es) != p.Outlets {
				t.Fatalf("%q: suggestion %q (%d outlets) resolves to %d, %v", q, p.Label, p.Outlets, len(es), err)
			}
		}
		if n := len(s.Places(q, 3, nil)); n > 3 {
			t.Fatalf("%q: %d places", q, n)
		}
	})
}
