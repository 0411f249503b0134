package snapshot

import (
	"strings"
	"testing"
)

func TestParseAddress(t *testing.T) {
	cases := []struct {
		in   string
		want Address
	}{
		{"서울특별시 강북구 솔매로 38 (미아동)", Address{"서울특별시", "강북구", "미아동"}},
		{"서울특별시 강북구 솔샘로 254 2층 2호 (미아동, 삼양아케이트)", Address{"서울특별시", "강북구", "미아동"}},
		{"서울특별시 용산구  장문로  114-1 (보광동)", Address{"서울특별시", "용산구", "보광동"}},
		{"서울특별시 용산구 보광동 123", Address{"서울특별시", "용산구", "보광동"}},
		{"경기도 파주시 파주읍 파주로 1", Address{"경기도", "파주시", "파주읍"}},
		{"경기도 수원시 장안구 정자로 1 (정자동)", Address{"경기도", "수원시 장안구", "정자동"}},
		{"경기도 수원시 장안구", Address{"경기도", "수원시 장안구", ""}},
		{"경기도 수원시 권선구 금곡로 202 108호 (금곡동, e-SPACECITY-1)", Address{"경기도", "수원시 권선구", "금곡동"}},
		{"충청남도 홍성군 갈산면 상촌로 12-1", Address{"충청남도", "홍성군", "갈산면"}},
		{"서울특별시 중구 을지로3가 123", Address{"서울특별시", "중구", "을지로3가"}},
		{"대구광역시 달성군 유가읍 테크노순환로12길 4 111,112호", Address{"대구광역시", "달성군", "유가읍"}},
		{"경상남도 양산시 삼호로 74 116동 (삼호동, 웅상신도시푸르지오아파트)", Address{"경상남도", "양산시", "삼호동"}},
		{"서울특별시 강남구 테헤란로 1", Address{"서울특별시", "강남구", ""}},
		{"서울 강북구 미아동", Address{"서울특별시", "강북구", "미아동"}},
		{"부산시 해운대구 우동 1", Address{"부산광역시", "해운대구", "우동"}},
		{"경남거창군 거창읍 중앙로 1", Address{"경상남도", "거창군", "거창읍"}},
		{"강릉시 경강로 1 (임당동)", Address{"", "강릉시", "임당동"}},
		{"세종특별자치시 조치원읍 새내로 1", Address{"세종특별자치시", "", "조치원읍"}},
		{"세종특별자치시 한누리대로 1 (나성동)", Address{"세종특별자치시", "", "나성동"}},
		{"서울특별시", Address{"서울특별시", "", ""}},
		{"서울특별시 미아동 (미아동)", Address{"서울특별시", "", ""}},
		{"", Address{}},
		{"  ", Address{}},
		{"(미아동", Address{}},
	}
	for _, c := range cases {
		if got := ParseAddress(c.in); got != c.want {
			t.Errorf("ParseAddress(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestQueryKeyRefusesSidoAlone(t *testing.T) {
	for _, q := range []string{"서울특별시", "서울", "경기도", "", "미아동"} {
		if k := ParseAddress(q).queryKey(); k != "" {
			t.Errorf("queryKey(%q) = %q, want refusal", q, k)
		}
	}
	if k := ParseAddress("경기도 수원시").queryKey(); k != "경기도|수원시" {
		t.Errorf("queryKey(경기도 수원시) = %q", k)
	}
}

// FuzzParseAddress checks invariants that hold for any input: no panic;
// every part comes from the input (the 시도 possibly normalised); a parsed
// address written back out parses to itself.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{
		"서울특별시 강북구 솔매로 38 (미아동)", "(미아동, 삼양아케이트)", "경기도 수원시 장안구",
		"경기도 파주시 파주읍 …", "서울특별시 용산구  장문로  114-1 (보광동)", "경남거창군 거창읍",
		"서울특별시 용산구 보광동 123", "((", "\xff\xfe", "세종특별자치시 (나성동)",
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
		if a.Sido != "" && a.Sigungu != "" {
			s2 := a.Sido + " " + a.Sigungu + " " + a.Dong
			if b := ParseAddress(s2); b != a {
				t.Fatalf("%q -> %+v, but %q -> %+v", s, a, s2, b)
			}
		}
	})
}
