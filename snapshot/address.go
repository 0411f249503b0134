package snapshot

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Address is the administrative part of a Korean address: 시도, 시군구 (a 시
// and its 구 together, e.g. "수원시 장안구") and 읍/면/동 (a 법정동, including
// the "…가" form such as 을지로3가). Any part may be empty.
type Address struct {
	Sido    string
	Sigungu string
	Dong    string
}

// sidoNames are the 17 시도 of 2020; the index into this list is the 시도's
// number in summaries.
const nSido = 17

var sidoNames = [nSido]string{
	"서울특별시", "부산광역시", "대구광역시", "인천광역시", "광주광역시", "대전광역시",
	"울산광역시", "세종특별자치시", "경기도", "강원도", "충청북도", "충청남도",
	"전라북도", "전라남도", "경상북도", "경상남도", "제주특별자치도",
}

// sidoAlias maps the short and colloquial names found in real addresses (and
// typed by users) to the official name; the official names map to themselves.
var sidoAlias = func() map[string]string {
	m := map[string]string{
		"서울": "서울특별시", "서울시": "서울특별시",
		"부산": "부산광역시", "부산시": "부산광역시",
		"대구": "대구광역시", "대구시": "대구광역시",
		"인천": "인천광역시", "인천시": "인천광역시",
		"광주": "광주광역시", "광주시": "광주광역시",
		"대전": "대전광역시", "대전시": "대전광역시",
		"울산": "울산광역시", "울산시": "울산광역시",
		"세종": "세종특별자치시", "세종시": "세종특별자치시",
		"경기": "경기도", "강원": "강원도", "강원특별자치도": "강원도",
		"충북": "충청북도", "충남": "충청남도",
		"전북": "전라북도", "전북특별자치도": "전라북도", "전남": "전라남도",
		"경북": "경상북도", "경남": "경상남도",
		"제주": "제주특별자치도", "제주도": "제주특별자치도",
	}
	for _, n := range sidoNames {
		m[n] = n
	}
	return m
}()

// shortSido are the two-letter prefixes that real data glues onto the 시군구
// ("경남거창군", "전북군산시").
var shortSido = []string{"서울", "부산", "대구", "인천", "광주", "대전", "울산", "세종",
	"경기", "강원", "충북", "충남", "전북", "전남", "경북", "경남", "제주"}

// sidoIndex returns the position of an official 시도 name, or -1.
func sidoIndex(name string) int {
	for i, n := range sidoNames {
		if n == name {
			return i
		}
	}
	return -1
}

// NormalizeSido returns the official name of a 시도 written in full or short
// form, or "" if s is not one.
func NormalizeSido(s string) string { return sidoAlias[s] }

// ParseAddress extracts 시도 / 시군구 / 읍면동 from a free-form address. It is
// a pure function, used both for outlet addresses (index) and for queries, so
// that both sides agree on spelling:
//   - runs of spaces are ignored ("서울특별시 용산구  장문로");
//   - a 시 followed by a 구 is one 시군구 ("경기도 수원시 장안구");
//   - an inline token ending in 읍/면/동/가 right after the 시군구 is the 동
//     (jibun addresses "… 용산구 보광동 123", and 읍/면 "… 파주시 파주읍 …");
//   - otherwise the first item of the last parenthesis of a road-name address
//     ("… 솔매로 38 (미아동)", "(미아동, 삼양아케이트)").
func ParseAddress(s string) Address {
	var a Address
	toks := strings.Fields(s)
	if len(toks) == 0 {
		return a
	}
	i := 0
	if n := sidoAlias[toks[0]]; n != "" {
		a.Sido = n
		i = 1
	} else if sd, rest := splitGluedSido(toks[0]); sd != "" {
		// "경남거창군 …": treat as two tokens.
		a.Sido = sd
		toks[0] = rest
	}
	if i < len(toks) && isSigunguToken(toks[i]) {
		a.Sigungu = toks[i]
		i++
		if strings.HasSuffix(a.Sigungu, "시") && i < len(toks) && isGuToken(toks[i]) {
			a.Sigungu += " " + toks[i]
			i++
		}
	}
	if a.Sigungu == "" && a.Sido != "세종특별자치시" {
		// Without a 시군구 a 동 name is ambiguous; Sejong alone has no 시군구
		// level.
		return a
	}
	if i < len(toks) && isDongToken(toks[i]) {
		a.Dong = toks[i]
		return a
	}
	a.Dong = parenDong(s)
	return a
}

// splitGluedSido splits "경남거창군" into ("경상남도", "거창군").
func splitGluedSido(t string) (string, string) {
	for _, p := range shortSido {
		if rest, ok := strings.CutPrefix(t, p); ok && utf8.RuneCountInString(rest) >= 2 && isSigunguToken(rest) {
			return sidoAlias[p], rest
		}
	}
	return "", ""
}

// parenDong returns the 동 named first in the last parenthesis of s, if any.
func parenDong(s string) string {
	open := strings.LastIndexByte(s, '(')
	if open < 0 {
		return ""
	}
	in := s[open+1:]
	if cl := strings.IndexByte(in, ')'); cl >= 0 {
		in = in[:cl]
	}
	if c := strings.IndexByte(in, ','); c >= 0 {
		in = in[:c]
	}
	in = strings.TrimSpace(in)
	if isDongToken(in) {
		return in
	}
	return ""
}

// hangulWord reports whether t is at least two runes, starts with a Hangul
// syllable and contains no spaces or punctuation (digits allowed: 종로5가).
func hangulWord(t string) bool {
	if utf8.RuneCountInString(t) < 2 {
		return false
	}
	first, _ := utf8.DecodeRuneInString(t)
	if !unicode.Is(unicode.Hangul, first) {
		return false
	}
	for _, r := range t {
		if !unicode.Is(unicode.Hangul, r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

func isSigunguToken(t string) bool {
	return hangulWord(t) && (strings.HasSuffix(t, "시") || strings.HasSuffix(t, "군") || strings.HasSuffix(t, "구"))
}

func isGuToken(t string) bool { return hangulWord(t) && strings.HasSuffix(t, "구") }

func isDongToken(t string) bool {
	if !hangulWord(t) {
		return false
	}
	for _, suf := range []string{"동", "읍", "면", "가"} {
		if strings.HasSuffix(t, suf) {
			return true
		}
	}
	return false
}

// keys returns the address-index keys of an outlet address: its 시군구, the
// parent 시 of a 시+구, and its 동 under each of them.
func (a Address) keys() []string {
	if a.Sido == "" {
		return nil
	}
	var ks []string
	if a.Sigungu != "" {
		ks = append(ks, a.Sido+"|"+a.Sigungu)
		if a.Dong != "" {
			ks = append(ks, a.Sido+"|"+a.Sigungu+"|"+a.Dong)
		}
		if si, _, ok := strings.Cut(a.Sigungu, " "); ok {
			ks = append(ks, a.Sido+"|"+si)
			if a.Dong != "" {
				ks = append(ks, a.Sido+"|"+si+"|"+a.Dong)
			}
		}
	} else if a.Dong != "" {
		ks = append(ks, a.Sido+"||"+a.Dong)
	}
	return ks
}

// queryKey is the index key a query address looks up; "" if the query is not
// specific enough (a 시도 alone, or no 시도).
func (a Address) queryKey() string {
	switch {
	case a.Sido == "":
		return ""
	case a.Sigungu != "" && a.Dong != "":
		return a.Sido + "|" + a.Sigungu + "|" + a.Dong
	case a.Sigungu != "":
		return a.Sido + "|" + a.Sigungu
	case a.Dong != "":
		return a.Sido + "||" + a.Dong
	}
	return ""
}
