package snapshot

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"unicode"

	publicmask "github.com/publicmask/publicmask"
)

// ---- Resolve: storesByAddr ----

// AmbiguousError is the answer to an address that names several places:
// Candidates are full addresses, one per place, that each name one of them.
type AmbiguousError struct {
	Query      string
	Candidates []string
}

func (e *AmbiguousError) Error() string {
	return publicmask.EAmbiguousAddress + ": " + e.Message()
}

// Message is the user-facing message, candidates included.
func (e *AmbiguousError) Message() string {
	return "\"" + e.Query + "\" names several places: " + strings.Join(e.Candidates, ", ")
}

// maxCandidates bounds the list of an ambiguous answer (a bare "중앙동"
// names dozens).
const maxCandidates = 50

// query is a typed address, split the way Resolve reads it.
type query struct {
	sido        string
	sidoTok     string // as typed, for the 광주시 case
	sejong      bool   // "세종특별자치시 세종특별자치시": 세종 named as its own 시군구 (MOIS)
	si, gu      string // "수원시" "장안구"; "강남구" ""
	stem        bool   // si was typed without 시/군/구: "수원 장안구", "고성 거진읍"
	dong, ri    string
	road, bldg  string
	rest        string // a word after the 시군구 that names nothing parsed: a place there that may not exist
	parenthesis bool   // the 동 came from a parenthesis (a pasted road-name address)
}

func parseQuery(s string) query {
	var q query
	head, pd := s, ""
	if open := strings.IndexByte(s, '('); open >= 0 {
		head, pd = s[:open], parenDong(s)
	}
	toks := queryFields(head)
	i := 0
	if len(toks) > 0 {
		if n := sidoAlias[toks[0]]; n != "" {
			q.sido, q.sidoTok = n, toks[0]
			i = 1
			if n == "세종특별자치시" && i < len(toks) && sidoAlias[toks[i]] == n {
				// The MOIS lists name 세종 as its own 시군구 (36110):
				// "세종특별자치시 세종특별자치시", "세종특별자치시 세종시 조치원읍".
				q.sejong = true
				i++
			}
		} else if sd, rest := splitGluedSido(toks[0]); sd != "" {
			q.sido = sd
			toks[0] = rest
		}
	}
	// After a 시도, another 시도's short name is a 시군구's stem: "경기도 광주".
	otherSido := i == 1 && !q.sejong && i < len(toks) && sidoAlias[toks[i]] != "" && sidoAlias[toks[i]] != q.sido && hangulWord(toks[i])
	// "강동 길동", "종로 창신동": a 시군구's stem that reads as a 동 or a
	// road, followed by a 동.
	stemFirst := i+1 < len(toks) && hangulWord(toks[i]) && (isDongToken(toks[i]) || isRoad(toks[i]) || isRiToken(toks[i])) && isDongToken(toks[i+1])
	if i < len(toks) && (isSigunguToken(toks[i]) || isStem(toks[i]) || otherSido || stemFirst) {
		q.si, q.stem = toks[i], !isSigunguToken(toks[i])
		i++
		if si, gu := splitGluedGu(q.si); gu != "" {
			q.si, q.gu = si, gu // "수원시권선구", as the MOIS lists write it
		} else if (q.stem || strings.HasSuffix(q.si, "시")) && i < len(toks) && isGuToken(toks[i]) {
			q.gu = toks[i]
			i++
		}
	}
	if pd != "" && !(i < len(toks) && isDongToken(toks[i])) {
		// A pasted road-name address: its 동 is in the parenthesis, unless
		// an 읍/면 stands inline (as ParseAddress reads it).
		q.dong, q.parenthesis = pd, true
		return q
	}
	if i < len(toks) && (isDongToken(toks[i]) || hangjeongStem(toks[i]) != "") {
		q.dong = toks[i]
		i++
		if i < len(toks) && isRiToken(toks[i]) {
			q.ri = toks[i]
		}
		return q
	}
	if i < len(toks) && isRiToken(toks[i]) {
		q.ri = toks[i]
		return q
	}
	if i < len(toks) {
		var next int
		if q.road, q.bldg, next = roadAt(toks, i); next == i {
			q.rest = toks[i]
		}
	}
	return q
}

// Resolve returns the outlets (code order) of the place an address names.
// An address that names several places is an *AmbiguousError; one that
// names no place at all (a 시도 alone, or nothing recognisable) a
// bad_request error. A known area without the named 동 or road has no
// outlets (an empty answer, as in 2020).
func (ix *placeIndex) resolve(s string, at func(int) *Entry) ([]int32, error) {
	q := parseQuery(s)
	pos, err := ix.resolveQuery(q, s, at)
	if q.sidoTok == "" || sidoAlias[q.sidoTok] == q.sidoTok || q.sejong {
		return pos, err // an official 시도 name is no 시군구's
	}
	// "광주시 오포읍", "광주 오포읍": 광주 is also the 경기도 시 of that
	// name. "광주시" names both; "광주" alone is 광주광역시 first, and
	// 경기도 광주시 only for what 광주광역시 does not have.
	full := isSigunguToken(q.sidoTok)
	var amb *AmbiguousError
	if !full && (len(pos) > 0 || errors.As(err, &amb)) {
		return pos, err
	}
	altSido := ""
	for _, id := range ix.sigungus(query{si: q.sidoTok, stem: !full}) {
		if sd := sidoNames[ix.places[id].sido]; sd != q.sido {
			altSido = sd
			break
		}
	}
	if altSido == "" {
		return pos, err
	}
	alt := parseQuery(altSido + " " + s)
	p2, err2 := ix.resolveQuery(alt, s, at)
	amb = nil
	switch {
	case err2 != nil || len(p2) == 0:
	case err == nil && len(pos) == 0, err != nil && !errors.As(err, &amb):
		return p2, nil
	default:
		// Both have it ("광주시 송정동": 광산구 and 경기도 광주시):
		// the candidates of each reading.
		words := queryFields(s)
		rest := strings.Join(words[1:], " ")
		e := &AmbiguousError{Query: strings.Join(strings.Fields(s), " ")}
		if amb != nil {
			e.Candidates = amb.Candidates
		} else {
			e.Candidates = []string{strings.TrimSpace(q.sido + " " + rest)}
		}
		for _, id := range ix.sigungus(alt) {
			if sidoNames[ix.places[id].sido] == altSido {
				e.Candidates = append(e.Candidates, strings.TrimSpace(ix.places[id].label+" "+rest))
			}
		}
		return nil, e
	}
	return pos, err
}

// queryFields splits a typed address into words: commas separate parts as
// spaces do ("서울특별시, 강남구, 논현동").
func queryFields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == ',' })
}

// isStem reports whether t may be a 시군구 typed without its 시/군/구
// ("수원", "강남"): a word that is nothing else.
func isStem(t string) bool {
	return hangulWord(t) && !isDongToken(t) && !isRiToken(t) && !isRoad(t) && sidoAlias[t] == ""
}

// sigungus returns the 시군구 places the query names.
func (ix *placeIndex) sigungus(q query) []int32 {
	if !q.stem {
		name := q.si
		if q.gu != "" {
			name += " " + q.gu
		}
		if out := ix.named(name, KindSigungu); out != nil || q.gu != "" {
			return out
		}
		// "양구 남면": 양구군 typed without its 군 (양구 reads as a 구).
		return append(ix.named(name+"군", KindSigungu), ix.named(name+"시", KindSigungu)...)
	}
	if q.gu != "" {
		return ix.named(q.si+"시 "+q.gu, KindSigungu)
	}
	var out []int32
	for _, suf := range []string{"시", "군", "구"} {
		out = append(out, ix.named(q.si+suf, KindSigungu)...)
	}
	return out
}

func (ix *placeIndex) resolveQuery(q query, s string, at func(int) *Entry) ([]int32, error) {
	if q.stem && len(ix.sigungus(q)) == 0 {
		// Not a 시군구 after all: read the address without that word, or,
		// if it was the last, as a 읍/면/동 without its suffix ("서울 논현").
		if q.gu == "" && q.dong == "" && q.ri == "" && q.road == "" && q.rest == "" && !q.parenthesis {
			q.rest = q.si
		}
		q.si, q.gu, q.stem = "", "", false
	} else if q.gu != "" && q.dong == "" && q.ri == "" && q.road == "" && q.rest == "" && !q.parenthesis && len(ix.sigungus(q)) == 0 {
		// "공주시 유구": 유구읍 typed without its 읍 (read as a 구).
		q.rest, q.gu = q.gu, ""
	}
	finer := q.dong != "" || q.ri != "" || q.road != "" || q.rest != ""
	if q.sejong && q.si == "" && !finer {
		// "세종특별자치시 세종특별자치시": the whole of 세종, its unnamed
		// 시군구 (a rare query: the places are searched for it).
		for id := range ix.places {
			if p := &ix.places[id]; p.kind == KindSigungu && p.name() == "" && sidoNames[p.sido] == q.sido {
				return slices.Clone(p.pos), nil
			}
		}
		return nil, nil
	}
	if q.si == "" && !finer {
		if q.sido != "" {
			return nil, publicmask.Errorf(publicmask.EBadRequest,
				"address must name a 시군구 or a 읍/면/동 as well as the 시도, e.g. 서울특별시 강남구 논현동")
		}
		return nil, publicmask.Errorf(publicmask.EBadRequest,
			"address must name a 시군구, 읍/면/동 or road, e.g. 서울특별시 강남구 논현동, 강남구 논현동, 솔매로")
	}
	areas, err := ix.queryAreas(q)
	if err != nil || (q.si != "" && areas == nil) {
		return nil, err
	}
	var groups map[int32][]int32 // area → matched places
	var suffix string            // what candidates add to their area's label
	if finer {
		matches, sfx := ix.finerMatches(q)
		suffix = sfx
		groups = map[int32][]int32{}
		group := func(matches []int32) {
			for _, m := range matches {
				if a := ix.within(q, areas, m); a >= 0 && !slices.Contains(groups[a], m) {
					groups[a] = append(groups[a], m)
				}
			}
		}
		group(matches)
		if len(groups) == 0 && q.bldg == "" && q.rest == "" {
			group(ix.finerFallback(q))
		}
		if ix.mixedNames(groups) {
			// "화성시 송산": 송산동 and 송산면 are two places, not one
			// (main answered both together). The same name in two 구 of
			// one 시 stays one answer, as before: the registry itself
			// writes "창원시 상남동 69-3".
			byPlace := make(map[int32][]int32, len(groups))
			for _, ms := range groups {
				for _, m := range ms {
					byPlace[m] = []int32{m}
				}
			}
			groups, suffix = byPlace, ""
		}
		if len(groups) == 0 {
			switch {
			case len(areas) == 1 || (areas == nil && q.sido != ""):
				return nil, nil // no such 동 or road there
			case len(areas) > 1:
				return nil, ix.ambiguous(s, areas, "")
			}
			return nil, publicmask.Errorf(publicmask.EBadRequest, "no place named %q", cmp.Or(suffix, q.rest))
		}
	} else {
		groups = make(map[int32][]int32, len(areas))
		for _, a := range areas {
			groups[a] = []int32{a}
		}
	}
	bldg := func(i int32) bool { return at(int(i)).Place().Bldg == q.bldg }
	byBldg := false
	if q.bldg != "" {
		if narrowed := ix.withBuilding(groups, bldg); len(narrowed) > 0 {
			groups, byBldg = narrowed, true
			suffix += " " + q.bldg
		}
	}
	if len(groups) > 1 {
		ids := make([]int32, 0, len(groups))
		for a := range groups {
			ids = append(ids, a)
		}
		return nil, ix.ambiguous(s, ids, suffix)
	}
	var out []int32
	for _, ms := range groups {
		for _, m := range ms {
			for _, i := range ix.places[m].pos {
				if !byBldg || bldg(i) {
					out = append(out, i)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// queryAreas returns the 시군구 places the query names (nil: the whole
// country or 시도; also nil, without an error, for a 시도 that has no such
// 시군구: nothing there).
func (ix *placeIndex) queryAreas(q query) ([]int32, error) {
	if q.si == "" {
		return nil, nil
	}
	var areas []int32
	for _, id := range ix.sigungus(q) {
		if q.sido == "" || sidoNames[ix.places[id].sido] == q.sido {
			areas = append(areas, id)
		}
	}
	if len(areas) == 0 && q.sido == "" {
		name := q.si
		if q.gu != "" {
			name += " " + q.gu
		}
		return nil, publicmask.Errorf(publicmask.EBadRequest, "no place named %q", name)
	}
	return areas, nil
}

// within reports the area (of areas; with none, the 시군구 in the query's
// 시도) that holds the place id, or -1.
func (ix *placeIndex) within(q query, areas []int32, id int32) int32 {
	if areas == nil {
		if q.sido != "" && sidoNames[ix.places[id].sido] != q.sido {
			return -1
		}
		// Group by the 시군구 the place is in.
		for p := ix.places[id].parent; p >= 0; p = ix.places[p].parent {
			if ix.places[p].kind == KindSigungu {
				return p
			}
		}
		return -1
	}
	for p := ix.places[id].parent; p >= 0; p = ix.places[p].parent {
		if slices.Contains(areas, p) {
			return p
		}
	}
	return -1
}

// finerMatches returns the places the query's 읍/면/동, 리 or road names,
// anywhere, and the text that names them.
func (ix *placeIndex) finerMatches(q query) (matches []int32, suffix string) {
	return ix.finerNamed(q)
}

// finerFallback returns the places a word read as a road, 리 or 읍/면/동
// that names none in the area typed may stand for: a 동 typed without its
// suffix ("영등포구 신길", "구로구 구로", "동대문구 답십리", "서초구 우면"),
// or a 읍/면 whose name ends like a 동 ("포천시 일동" for 일동면, "파주시
// 조리" for 조리읍).
func (ix *placeIndex) finerFallback(q query) (matches []int32) {
	{
		var w string
		switch {
		case q.road != "" && q.bldg == "":
			w = q.road
		case q.ri != "" && q.dong == "":
			w = q.ri
		case q.dong != "" && q.ri == "":
			w = q.dong
		}
		if w != "" {
			for _, suf := range [...]string{"동", "읍", "면"} {
				matches = append(matches, ix.named(w+suf, KindDong)...)
			}
		}
	}
	return matches
}

// finerNamed returns the places the query's 읍/면/동, 리, road or rest
// names, anywhere.
func (ix *placeIndex) finerNamed(q query) (matches []int32, suffix string) {
	switch {
	case q.dong != "":
		suffix = q.dong
		ds := ix.named(q.dong, KindDong)
		if st := hangjeongStem(q.dong); st != "" {
			ds = append(slices.Clip(ds), ix.named(st, KindDong)...)
		}
		if q.ri == "" {
			return ds, suffix
		}
		ris := ix.named(q.ri, kindRi)
		for _, d := range ds {
			for _, r := range ris {
				if ix.places[r].parent == d {
					matches = append(matches, r)
				}
			}
		}
		return matches, suffix + " " + q.ri
	case q.ri != "":
		return ix.named(q.ri, kindRi), q.ri
	case q.road != "":
		return ix.named(q.road, KindRoad), q.road
	case q.rest != "":
		// People drop a 읍/면/동's suffix ("강남구 논현", "안성시 고삼"); a
		// word that is no place's name even so finds nothing.
		for _, suf := range [...]string{"동", "읍", "면"} {
			matches = append(matches, ix.named(q.rest+suf, KindDong)...)
		}
		if st := hangjeongStem(q.rest + "동"); st != "" {
			matches = append(matches, ix.named(st, KindDong)...) // "동작구 상도1"
		}
		return matches, q.rest
	}
	return nil, ""
}

// mixedNames reports whether the groups' places have more than one own
// name (a word completed as 동 and as 면).
func (ix *placeIndex) mixedNames(groups map[int32][]int32) bool {
	name := ""
	for _, ms := range groups {
		for _, m := range ms {
			switch n := ix.places[m].name(); {
			case name == "":
				name = n
			case n != name:
				return true
			}
		}
	}
	return false
}

// withBuilding narrows the groups to the areas with an outlet at the
// query's building number (§6.10); where none has it, the road as a whole
// answers (an empty result).
func (ix *placeIndex) withBuilding(groups map[int32][]int32, bldg func(int32) bool) map[int32][]int32 {
	narrowed := map[int32][]int32{}
	for a, ms := range groups {
		for _, m := range ms {
			if slices.ContainsFunc(ix.places[m].pos, bldg) {
				narrowed[a] = ms
			}
		}
	}
	return narrowed
}

// ambiguous builds the error listing the areas (with the query's finer part
// appended), largest first.
func (ix *placeIndex) ambiguous(s string, areas []int32, suffix string) error {
	slices.SortFunc(areas, func(a, b int32) int {
		pa, pb := &ix.places[a], &ix.places[b]
		return cmp.Or(cmp.Compare(pb.count, pa.count), strings.Compare(pa.label, pb.label))
	})
	e := &AmbiguousError{Query: strings.Join(strings.Fields(s), " ")}
	for _, a := range areas[:min(len(areas), maxCandidates)] {
		c := ix.places[a].label
		if suffix != "" {
			c += " " + suffix
		}
		e.Candidates = append(e.Candidates, c)
	}
	return e
}
