package seed

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/publicmask/publicmask"
)

// Words for pharmacy names: the common 2020 kinds (온누리약국, 새봄약국,
// 중앙약국 …), place names, and a few surnames (김약국).
var pharmacyWords = []string{
	"온누리", "새봄", "중앙", "행복한", "건강한", "보람", "우리들", "튼튼", "사랑", "참좋은",
	"늘푸른", "하나", "대학", "한빛", "햇살", "미소", "소망", "열린", "푸른", "밝은",
	"해맑은", "봄날", "다나", "녹십자", "제일", "동산", "현대", "대한", "한솔", "그린",
	"365", "약손", "한마음", "성모", "메디팜", "큰사랑", "드림", "시민", "가족", "정다운",
	"이화", "바른", "더건강", "편한", "선한이웃", "옵티마", "태평양", "새서울", "종로", "백세",
	"청춘", "솔", "365열린", "새날", "으뜸", "희망", "믿음", "한결", "초록", "나눔",
}

var surnames = []string{"김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권"}

// Road-name stems. Real road names are mostly place names or civic words
// followed by 로/길/대로, often with a numbered branch (테헤란로8길).
var roadWords = []string{
	"중앙", "시청", "역전", "번영", "평화", "문화", "희망", "새마을", "충무", "구청",
	"시장", "학교", "공원", "산업", "경제", "신흥", "동부", "서부", "남부", "북부",
	"강변", "호수", "청사", "대학", "한빛", "푸른", "은행", "소나무", "벚꽃", "장미",
}

// stem drops the 동/읍/면/가 suffix from a place name (역삼동 → 역삼,
// 성수동1가 → 성수, 대저1동 → 대저, 화북일동 → 화북), keeping the whole name
// when the stem would be a single syllable (중동, 명동).
func stem(name string) string {
	s := strings.TrimRight(name, "0123456789가")
	if s != name { // 성수동1가
		s = strings.TrimSuffix(s, "동")
	} else {
		for _, suf := range []string{"동", "읍", "면", "리"} {
			if strings.HasSuffix(s, suf) {
				s = strings.TrimSuffix(s, suf)
				break
			}
		}
	}
	s = strings.TrimRight(s, "0123456789")
	if utf8.RuneCountInString(s) >= 3 {
		for _, n := range []string{"일", "이", "삼"} { // 제주 일도이동 style numbering
			if strings.HasSuffix(s, n) && strings.HasSuffix(name, "동") {
				s = strings.TrimSuffix(s, n)
				break
			}
		}
	}
	if utf8.RuneCountInString(s) < 2 {
		return name
	}
	return s
}

// sggStem is the short local name of a 시군구 (강남구 → 강남, 수원시 장안구 →
// 수원, 중구 → 부산중구, 세종특별자치시 → 세종).
func sggStem(sidoName, sgg string) string {
	short := sidoName
	if s, ok := findSido(sidoName); ok {
		short = s.Short
	}
	if sgg == sidoName || sgg == "" {
		return short
	}
	first, _, _ := strings.Cut(sgg, " ") // 수원시 장안구 → 수원시
	if utf8.RuneCountInString(first) <= 2 {
		return short + first // 중구 → 부산중구, 동구 → 대구동구
	}
	for _, suf := range []string{"시", "군", "구"} {
		if strings.HasSuffix(first, suf) {
			return strings.TrimSuffix(first, suf)
		}
	}
	return first
}

func (g *gen) pick(words []string) string { return words[g.rng.IntN(len(words))] }

// name gives a plausible outlet name; names counts uses within the area so
// that a second post office or mart in the same place gets a branch name.
func (g *gen) name(a *Area, typ, dong string, names map[string]int) string {
	switch typ {
	case publicmask.TypePost:
		base := stem(dong)
		if !isEupMyeon(dong) {
			// City post offices carry the city: 대구범어동우체국, 원주단계동우체국.
			city := sggStem(a.Sido, a.Sigungu)
			if s, ok := findSido(a.Sido); ok && (strings.HasSuffix(s.Name, "광역시") || strings.HasSuffix(s.Name, "특별시")) {
				city = s.Short
			}
			base = city + dong
		}
		return uniqueName(names, base, "우체국")
	case publicmask.TypeNonghyup:
		region := sggStem(a.Sido, a.Sigungu)
		if isEupMyeon(dong) {
			region = stem(dong)
		}
		n := region + "농협하나로마트"
		names[n]++
		if k := names[n]; k > 1 {
			// Branches of the same local co-op: 파주농협하나로마트 역전점.
			branches := []string{"중앙점", "역전점", "시장점", "터미널점", "신도시점"}
			if k-2 < len(branches) {
				return n + " " + branches[k-2]
			}
			return n + " " + strconv.Itoa(k) + "호점"
		}
		return n
	}
	switch r := g.rng.IntN(20); {
	case r < 6:
		return stem(dong) + "약국"
	case r < 8:
		return stem(dong) + g.pick([]string{"중앙", "온누리", "제일", "역전", "시장"}) + "약국"
	case r < 9:
		return g.pick(surnames) + "약국"
	case r < 10:
		return sggStem(a.Sido, a.Sigungu) + "약국"
	default:
		return g.pick(pharmacyWords) + "약국"
	}
}

// uniqueName returns base+suffix the first time, then branch variants
// (문산중앙우체국, 문산역전우체국 …) so one area has no two alike.
func uniqueName(names map[string]int, base, suffix string) string {
	n := base + suffix
	names[n]++
	k := names[n]
	if k == 1 {
		return n
	}
	alt := []string{"중앙", "역전", "시장", "신", "북", "남"}
	if k-2 < len(alt) {
		return base + alt[k-2] + suffix
	}
	return base + strconv.Itoa(k) + suffix
}

// address builds a road-name address: the 동 stands in parentheses at the
// end (서울특별시 강남구 테헤란로 123 (역삼동)), a 읍/면 inline before the road
// (경기도 파주시 파주읍 파주로 12), as in 2020 and as the address index expects.
func (g *gen) address(a *Area, dong string) string {
	var b strings.Builder
	b.WriteString(a.Sido)
	if a.Sigungu != a.Sido { // 세종특별자치시 has no 시군구 in addresses
		b.WriteByte(' ')
		b.WriteString(a.Sigungu)
	}
	b.WriteByte(' ')
	if isEupMyeon(dong) {
		b.WriteString(dong)
		b.WriteByte(' ')
	}
	b.WriteString(g.road(a, dong))
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(1 + g.rng.IntN(250)))
	if g.rng.IntN(8) == 0 {
		b.WriteByte('-')
		b.WriteString(strconv.Itoa(1 + g.rng.IntN(30)))
	}
	if !isEupMyeon(dong) {
		b.WriteString(" (")
		b.WriteString(dong)
		if g.rng.IntN(10) == 0 { // some 2020 addresses name the building too
			b.WriteString(", ")
			b.WriteString(g.pick([]string{"상가", "메디컬빌딩", "프라자", "타워", "빌딩"}))
		}
		b.WriteByte(')')
	}
	return b.String()
}

func (g *gen) road(a *Area, dong string) string {
	var base string
	switch r := g.rng.IntN(10); {
	case r < 4:
		base = stem(dong)
	case r < 5:
		base = sggStem(a.Sido, a.Sigungu)
	default:
		base = g.pick(roadWords)
	}
	switch r := g.rng.IntN(10); {
	case r < 4:
		return base + "로"
	case r < 5:
		return base + "대로"
	case r < 6:
		return base + "길"
	case r < 9:
		return base + "로" + strconv.Itoa(1+g.rng.IntN(60)) + "길"
	default:
		return base + "로" + strconv.Itoa(1+g.rng.IntN(30)) + "번길"
	}
}
