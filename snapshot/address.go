package snapshot

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Address is the administrative part of a Korean address: 시도, 시군구 (a 시
// and its 구 together, e.g. "수원시 장안구"), 읍/면/동 (a 법정동, including
// the "…가" form such as 을지로3가), the 리 of an 읍/면, and the road name and
// building number of a road-name address. Any part may be empty.
type Address struct {
	Sido    string
	Sigungu string
	Dong    string
	Ri      string
	Road    string // "솔매로", "동부로609번길"
	Bldg    string // "38", "114-1"
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

// ParseAddress extracts the parts of a free-form outlet address. It is a
// pure function:
//   - runs of spaces are ignored ("서울특별시 용산구  장문로  114-1");
//   - a 시 followed by a 구 is one 시군구 ("경기도 수원시 장안구");
//   - an inline token ending in 읍/면/동/가 right after the 시군구 is the 동
//     (jibun addresses "… 용산구 보광동 123", and 읍/면 "… 파주시 파주읍 …"),
//     and a token ending in 리 right after an 읍/면 is its 리;
//   - the next token ending in 로/길, with a building number glued to it or
//     following it ("남해안대로442", "솔매로 38", "처인성로 185번길 23"), is
//     the road;
//   - without an inline 동, the first item of the last parenthesis of a
//     road-name address is the 동 ("… 솔매로 38 (미아동)", "(미아동, 삼양아케이트)").
//
// Parts the address leaves out (the 시도 of "강릉시 …", the 시군구 of "내면
// 창촌로 45-5") are filled in when the snapshot is built, from the other
// outlets (DESIGN.md §6.10).
func ParseAddress(s string) Address {
	var a Address
	var buf [16]string // an address's tokens, on the stack (strings.Fields allocated them)
	toks := appendFields(buf[:0], s)
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
	if a.Sido == "세종특별자치시" && i < len(toks) && sidoAlias[toks[i]] == a.Sido {
		// "세종특별자치시 세종특별자치시 …", "… 세종시 …": the MOIS lists
		// name 세종 as its own 시군구.
		i++
	}
	if i < len(toks) && isSigunguToken(toks[i]) {
		a.Sigungu = toks[i]
		i++
		if si, gu := splitGluedGu(a.Sigungu); gu != "" {
			a.Sigungu = si + " " + gu // "수원시권선구", as MOIS writes it
		} else if strings.HasSuffix(a.Sigungu, "시") && i < len(toks) && isGuToken(toks[i]) {
			a.Sigungu += " " + toks[i]
			i++
		}
	}
	if a.Sigungu == "" && a.Sido != "" && a.Sido != "세종특별자치시" && i+1 < len(toks) && hangulWord(toks[i]) &&
		!isDongToken(toks[i]) && !isRoad(toks[i]) {
		// "경기도 안성 금광면 …": a 시군구 written without its 시/군; the
		// snapshot finds which, if any (§6.10).
		a.Sigungu = toks[i]
		i++
	}
	if i < len(toks) && isDongToken(toks[i]) {
		a.Dong = toks[i]
		i++
		if isEupMyeon(a.Dong) && i < len(toks) && isRiToken(toks[i]) {
			a.Ri = toks[i]
			i++
		}
	}
	if i < len(toks) {
		a.Road, a.Bldg, _ = roadAt(toks, i)
	}
	if a.Dong == "" {
		a.Dong = parenDong(s)
	}
	return a
}

// appendFields appends the fields of s to dst as strings.Fields splits them
// (around runs of unicode.IsSpace; an invalid byte is not a space), commas
// counted as spaces (as queryFields does).
func appendFields(dst []string, s string) []string {
	start := -1 // of the field being read
	for i := 0; i < len(s); {
		space, size := false, 1
		switch c := s[i]; {
		case c < utf8.RuneSelf:
			space = c == ' ' || c == ',' || c-'\t' <= '\r'-'\t' // commas separate parts as in a query
		case c == 0xc2 || c >= 0xe1 && c <= 0xe3:
			// Every space outside ASCII (U+0085, U+00A0, U+1680,
			// U+2000–U+205F, U+3000) starts with one of these bytes.
			var r rune
			r, size = utf8.DecodeRuneInString(s[i:])
			space = unicode.IsSpace(r)
		default:
			// Any other byte starts no space, nor do the continuation
			// bytes after it (a Hangul syllable's two): skipped together,
			// without decoding; the next byte is one a decoder would
			// stop at.
			for i+size < len(s) && s[i+size]&0xc0 == 0x80 {
				size++
			}
		}
		if space {
			if start >= 0 {
				dst = append(dst, s[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
		i += size
	}
	if start >= 0 {
		dst = append(dst, s[start:])
	}
	return dst
}

// roadAt reads a road name at toks[i]: the road, a "N번길"/"N길" branch
// written apart ("처인성로 185번길" is 처인성로185번길), and the building
// number glued to it or in the next token. next is the index after them.
func roadAt(toks []string, i int) (road, bldg string, next int) {
	road, bldg, ok := splitRoad(toks[i])
	if !ok {
		return "", "", i
	}
	i++
	switch {
	case bldg == "" && i < len(toks) && isBranch(toks[i]):
		road += toks[i]
		i++
	case bldg != "" && !strings.Contains(bldg, "-") && i < len(toks) && isBranchWord(toks[i]):
		// "중앙로12 번길": the number was the branch's.
		road, bldg = road+bldg+toks[i], ""
		i++
	case bldg == "" && i+1 < len(toks) && isBranchWord(toks[i+1]) && isDigits(toks[i]):
		// "중앙로 12 번길"
		road += toks[i] + toks[i+1]
		i += 2
	}
	if bldg == "" && i < len(toks) && isBldgNum(toks[i]) {
		bldg = toks[i]
		i++
	}
	return road, bldg, i
}

// splitRoad splits a token into a road name ending in 로 or 길 and a
// building number glued after it ("남해안대로442", "진촌2길6-23"); ok is
// false if the token is not a road.
func splitRoad(t string) (road, bldg string, ok bool) {
	for j := len(t) - len("로"); j > 0; j-- {
		if !strings.HasPrefix(t[j:], "로") && !strings.HasPrefix(t[j:], "길") {
			continue
		}
		road, rest := t[:j+len("로")], t[j+len("로"):]
		if roadName(road) && (rest == "" || isBldgNum(rest)) {
			return road, rest, true
		}
	}
	return "", "", false
}

func isRoad(t string) bool { _, _, ok := splitRoad(t); return ok }

// roadName reports whether t may name a road: a Hangul word, or one that
// starts with digits or holds a "·" or "." (1순환로, 1100로, 3·15대로,
// 3.1만세로 — ~100 outlets of the April 2020 list), but not a branch alone
// (185번길).
func roadName(t string) bool {
	if hangulWord(t) {
		return true
	}
	if isBranch(t) {
		return false
	}
	n, hangul := 0, false
	for _, r := range t {
		switch {
		case r >= 0xAC00 && r <= 0xD7A3:
			hangul = true
		case r >= '0' && r <= '9':
		case (r == '·' || r == '.') && n > 0:
		default:
			return false
		}
		n++
	}
	return hangul && n >= 2
}

// isBranch reports whether t is a branch-road suffix written apart: "185번길", "3길".
func isBranch(t string) bool {
	n, ok := strings.CutSuffix(t, "길")
	n = strings.TrimSuffix(n, "번")
	return ok && n != "" && strings.Trim(n, "0123456789") == ""
}

// isBranchWord reports whether t is the "번길" or "길" of a branch road
// whose number was written apart from it.
func isBranchWord(t string) bool { return t == "번길" || t == "길" }

func isDigits(t string) bool { return t != "" && len(t) <= 5 && strings.Trim(t, "0123456789") == "" }

// isBldgNum reports whether t is a building number: "38", "114-1".
func isBldgNum(t string) bool {
	main, sub, dash := strings.Cut(t, "-")
	digits := func(s string) bool { return s != "" && len(s) <= 5 && strings.Trim(s, "0123456789") == "" }
	return digits(main) && (!dash || digits(sub))
}

func isEupMyeon(t string) bool { return strings.HasSuffix(t, "읍") || strings.HasSuffix(t, "면") }

func isRiToken(t string) bool { return strings.HasSuffix(t, "리") && hangulWord(t) }

// splitGluedSido splits "경남거창군" into ("경상남도", "거창군"). 부산진구 is
// a 구 of 부산, not 부산 + "진구": the one 시군구 whose own name starts with
// a 시도's short name.
func splitGluedSido(t string) (string, string) {
	if t == "부산진구" {
		return "", ""
	}
	for _, p := range gluedSidoPrefixes {
		if rest, ok := strings.CutPrefix(t, p); ok && utf8.RuneCountInString(rest) >= 2 && isSigunguToken(rest) {
			return sidoAlias[p], rest
		}
	}
	return "", ""
}

// gluedSidoPrefixes are the 시도's names as splitGluedSido tries them:
// longest first, so that "서울특별시강남구" is not read as "서울" +
// "특별시강남구", nor "서울시강남구" as "서울" + "시강남구".
var gluedSidoPrefixes = func() []string {
	ps := slices.Clone(shortSido)
	for alias := range sidoAlias {
		if !slices.Contains(ps, alias) {
			ps = append(ps, alias)
		}
	}
	slices.SortStableFunc(ps, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b)) })
	return ps
}()

// splitGluedGu splits a 시 and its 구 written as one word, as the MOIS and
// KOSTAT lists write them ("수원시권선구" → "수원시", "권선구";
// "창원시마산합포구"); gu is "" if t is not one. No 구's own name holds a
// 시 after two syllables, so the split is unambiguous.
func splitGluedGu(t string) (si, gu string) {
	if !strings.HasSuffix(t, "구") {
		return "", ""
	}
	j := strings.Index(t, "시")
	if j < len("수원") || j+len("시") >= len(t) {
		return "", ""
	}
	si, gu = t[:j+len("시")], t[j+len("시"):]
	if utf8.RuneCountInString(gu) < 2 || !hangulWord(si) || !isGuToken(gu) {
		return "", ""
	}
	return si, gu
}

// parenDong returns the 동 named first in the last parenthesis of s, if any.
func parenDong(s string) string {
	open := strings.LastIndexByte(s, '(')
	if open < 0 {
		return ""
	}
	if strings.IndexByte(s, '(') != open {
		// "(응암동, 백련산 힐스테이트 2차(211동상가))": the last parenthesis
		// that no other holds.
		depth := 0
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case '(':
				if depth == 0 {
					open = i
				}
				depth++
			case ')':
				depth = max(depth-1, 0)
			}
		}
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
// One pass: the 가–힣 block and ASCII digits without the Unicode tables
// or the decoder's call
// (every address token is tested, most of them several times, for each
// outlet an import brings: the tables' searches were half of ParseAddress).
func hangulWord(t string) bool {
	n := 0
	for i := 0; i < len(t); n++ {
		if c := t[i]; c < utf8.RuneSelf {
			if n == 0 || c < '0' || c > '9' {
				return false
			}
			i++
			continue
		}
		if c := t[i]; c >= 0xea && c <= 0xed && i+2 < len(t) && t[i+1]&0xc0 == 0x80 && t[i+2]&0xc0 == 0x80 {
			// Three bytes that may be a syllable, decoded in place (the
			// surrogates' encodings, 0xed 0xa0–0xbf, fall past 힣 to the
			// decoder, which rejects them).
			if r := rune(c&0x0f)<<12 | rune(t[i+1]&0x3f)<<6 | rune(t[i+2]&0x3f); r >= 0xAC00 && r <= 0xD7A3 {
				i += 3
				continue
			}
		}
		r, size := utf8.DecodeRuneInString(t[i:])
		i += size
		if r >= 0xAC00 && r <= 0xD7A3 || unicode.Is(unicode.Hangul, r) {
			continue
		}
		if n == 0 || !unicode.IsDigit(r) {
			return false
		}
	}
	return n >= 2
}

// The token tests check the suffix (a compare) before hangulWord (a scan).

func isSigunguToken(t string) bool {
	return (strings.HasSuffix(t, "시") || strings.HasSuffix(t, "군") || strings.HasSuffix(t, "구")) && hangulWord(t)
}

func isGuToken(t string) bool { return strings.HasSuffix(t, "구") && hangulWord(t) }

func isDongToken(t string) bool {
	for _, suf := range []string{"동", "읍", "면"} {
		if strings.HasSuffix(t, suf) {
			return hangulWord(t)
		}
	}
	// A 법정동 in 가 is numbered (명동1가, 을지로3가); "동해그린상가" in a
	// parenthesis is an arcade.
	if st, ok := strings.CutSuffix(t, "가"); ok && st != "" && st[len(st)-1] >= '0' && st[len(st)-1] <= '9' {
		return hangulWord(t)
	}
	return false
}
