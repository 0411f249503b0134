package snapshot

import (
	"errors"
	"slices"
	"strconv"
	"testing"

	publicmask "github.com/publicmask/publicmask"
)

// typedFixture is a small registry with the shapes of the April 2020 list
// that the national sample found mishandled (audit41b): a 시군구 whose name
// starts with a 시도's short name (부산진구), road names that start with a
// digit or hold a "·" (1순환로, 3·15대로, 1100로), and a road-name address
// whose parenthesis names a shopping arcade (…상가), not a 동.
func typedFixture() *Snapshot {
	addrs := []string{
		"부산광역시 부산진구 서면로 25 105호 (부전동, 서면삼한골든뷰)",    // 0
		"부산광역시 부산진구 가야대로 755 1층 일부 (부전동)",          // 1
		"부산광역시 중구 중앙대로 1 (중앙동)",                    // 2
		"충청북도 청주시 흥덕구 1순환로 511-1 (봉명동)",            // 3
		"충청북도 청주시 흥덕구 2순환로 1256 101호 (강서동)",        // 4
		"충청북도 청주시 흥덕구 옥산면 청주역로 658",                // 5
		"경상남도 창원시 마산회원구 3·15대로 778 (합성동, 정비인후과의원)", // 6
		"경상남도 창원시 마산회원구 북성로 110 (회원동)",             // 7
		"제주특별자치도 제주시 1100로 3283 1층 (노형동, 영화빌딩)",    // 8
		"제주특별자치도 제주시 중앙로 127 (이도일동)",               // 9
		"경상북도 포항시 남구 동해면 일월로 137 103호 (동해그린상가)",    // 10
		"경상북도 포항시 남구 오천읍 원동로 4 107호 (엠파이어상가)",      // 11
		"충청남도 논산시 연산면 선비로 289 (가동)",                // 12
		"서울특별시 중구 명동길 52 (명동2가)",                   // 13
		"서울특별시 강남구 언주로125길 6 (논현동)",                // 14
		"서울특별시 강남구 봉은사로 465 (삼성동)",                 // 15
		"전라북도 군산시 구암3.1로 137 2층 (경암동)",             // 16
		"경기도 화성시 향남읍 3.1만세로 1114",                  // 17
		"광주광역시 광산구 송정로 1 (송정동)",                    // 18
		"경기도 광주시 중앙로 183 (송정동)",                    // 19
		"경기도 광주시 오포읍 오포로 698",                      // 20
	}
	var outs []publicmask.Outlet
	for i, a := range addrs {
		outs = append(outs, publicmask.Outlet{Code: strconv.Itoa(10000 + i), Addr: a, Lat: 36 + float64(i)/100, Lng: 127, Version: 1})
	}
	return build(outs, 1, t0)
}

// TestTypedAddresses checks storesByAddr on what people type for the
// fixture's places: each query must give exactly the outlets listed
// (by their index in typedFixture), never a wider area's.
func TestTypedAddresses(t *testing.T) {
	s := typedFixture()
	cases := []struct {
		q    string
		want []int
	}{
		// 부산진구 is not "부산 진구" (a 시도 glued to a 시군구).
		{"부산진구", []int{0, 1}},
		{"부산진구 부전동", []int{0, 1}},
		{"부산진구 서면로 25", []int{0}},
		{"부산 부산진구", []int{0, 1}},
		// Road names that start with a digit or hold a "·".
		{"청주시 흥덕구 1순환로", []int{3}},
		{"흥덕구 2순환로 1256", []int{4}},
		{"1순환로 511-1", []int{3}},
		{"창원시 마산회원구 3·15대로", []int{6}},
		{"3·15대로 778", []int{6}},
		{"제주시 1100로", []int{8}},
		{"군산시 구암3.1로", []int{16}},
		{"화성시 3.1만세로 1114", []int{17}},
		// A pasted road-name address whose parenthesis names an arcade:
		// the inline 면/읍 is the place.
		{"경상북도 포항시 남구 동해면 일월로 137 103호 (동해그린상가)", []int{10}},
		{"경상북도 포항시 남구 오천읍 원동로 4 107호 (엠파이어상가)", []int{11}},
		{"충청남도 논산시 연산면 선비로 289 (가동)", []int{12}},
		{"서울특별시 중구 명동길 52 (명동2가)", []int{13}},
		// Commas typed between the parts.
		{"서울특별시, 강남구, 논현동", []int{14}},
		{"강남구 논현동,", []int{14}},
		{"부산광역시,부산진구", []int{0, 1}},
	}
	for _, c := range cases {
		es, err := s.ByAddress(c.q)
		if err != nil {
			t.Errorf("%q: %v, want outlets %v", c.q, err, c.want)
			continue
		}
		var got []int
		for _, e := range es {
			n, _ := strconv.Atoi(e.Code())
			got = append(got, n-10000)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%q: outlets %v, want %v", c.q, got, c.want)
		}
	}
}

// TestTypedAddressNoWiderArea: a word after the 시군구 that names nothing
// there gives no outlets, not the whole 시군구's (DESIGN.md §4.1: "a known
// area without the named 동 or road has no outlets").
func TestTypedAddressNoWiderArea(t *testing.T) {
	s := typedFixture()
	for _, q := range []string{"강남구 역삼", "청주시 흥덕구 없는길로", "제주시 영화빌딩"} {
		es, err := s.ByAddress(q)
		var amb *AmbiguousError
		if errors.As(err, &amb) || (err != nil && publicmask.ErrorCode(err) != publicmask.EBadRequest) {
			t.Errorf("%q: %v", q, err)
		}
		if len(es) != 0 {
			t.Errorf("%q: %d outlets (the 시군구's), want none", q, len(es))
		}
	}
}

// TestTypedDongWithoutSuffix: a 읍/면/동 typed without its suffix is read
// with it, inside the 시군구 typed; a word that is no place's name even so
// still finds nothing (TestTypedAddressNoWiderArea).
func TestTypedDongWithoutSuffix(t *testing.T) {
	s := typedFixture()
	cases := []struct {
		q    string
		want []int
	}{
		{"강남구 논현", []int{14}},
		{"서울 강남구 삼성", []int{15}},
		{"부산진구 부전", []int{0, 1}},
		{"청주시 흥덕구 옥산", []int{5}},
		{"포항시 남구 동해", []int{10}},
		{"논산시 연산", []int{12}},
		{"경기도 광주시 오포", []int{20}},
	}
	for _, c := range cases {
		es, err := s.ByAddress(c.q)
		if err != nil {
			t.Errorf("%q: %v", c.q, err)
			continue
		}
		var got []int
		for _, e := range es {
			n, _ := strconv.Atoi(e.Outlet().Code)
			got = append(got, n-10000)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%q: outlets %v, want %v", c.q, got, c.want)
		}
	}
}

// TestTypedGwangjuSi: "광주시" is what people call 광주광역시 and the name of
// 경기도 광주시. A place both have is ambiguous (it gave 광주광역시's
// alone); one only 경기도 광주시 has is found there.
func TestTypedGwangjuSi(t *testing.T) {
	s := typedFixture()
	_, err := s.ByAddress("광주시 송정동")
	var amb *AmbiguousError
	if !errors.As(err, &amb) || !slices.Equal(amb.Candidates, []string{"광주광역시 송정동", "경기도 광주시 송정동"}) {
		t.Fatalf("광주시 송정동: %v, want ambiguous between 광주광역시 송정동 and 경기도 광주시 송정동", err)
	}
	for _, c := range amb.Candidates {
		if es, err := s.ByAddress(c); err != nil || len(es) != 1 {
			t.Errorf("candidate %q: %d outlets, %v", c, len(es), err)
		}
	}
	for q, want := range map[string]string{"광주시 오포읍": "10020", "광주 송정동": "10018", "광주광역시 송정동": "10018"} {
		if es, err := s.ByAddress(q); err != nil || len(es) != 1 || es[0].Code() != want {
			t.Errorf("%q: %d outlets, %v; want %s", q, len(es), err, want)
		}
	}
}

// TestTypedGwangjuSiPlaces: /api/v2/places suggests what storesByAddr
// finds for "광주시 …" in 경기도 광주시 (the 시도 alias alone found nothing).
func TestTypedGwangjuSiPlaces(t *testing.T) {
	s := typedFixture()
	for q, want := range map[string][]string{
		"광주시 오포": {"경기도 광주시 오포읍"},
		// storesByAddr finds both 송정동 for "광주시 송정동" (ambiguous):
		// the suggestions name both (addr42: a level left out).
		"광주시 송정동": {"경기도 광주시 송정동", "광주광역시 광산구 송정동"},
	} {
		var got []string
		for _, p := range s.Places(q, 10, nil) {
			if p.Kind == KindDong {
				got = append(got, p.Label)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("places %q: %v, want %v", q, got, want)
		}
	}
}
