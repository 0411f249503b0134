package snapshot

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	publicmask "github.com/publicmask/publicmask"
)

// The place index: every 시도, 시군구, 읍/면/동, 리 and road name that an
// outlet's address contains, as a tree, built from the registry alone (no
// outside data) and rebuilt with it. It answers storesByAddr (Resolve) and
// the search box's suggestions (Search).

// PlaceKind is the kind of a place in /api/v2/places.
type PlaceKind uint8

const (
	KindSido PlaceKind = iota
	KindSigungu
	KindDong // 읍/면/동
	KindRoad
	kindRi // a 리; listed as "dong"
)

func (k PlaceKind) String() string {
	return [...]string{"sido", "sigungu", "dong", "road", "dong"}[k]
}

// place is one node of the tree. It is kept small (the index lives in every
// public node's heap): names are slices of the label, the 시도 an index.
type place struct {
	label  string  // full name, which Resolve maps back to this place: "경기도 수원시 장안구"
	pos    []int32 // outlets in code order (nil for a 시도: only counted)
	parent int32   // -1 for a 시도
	count  int32
	lat    float32 // mean position of its outlets (NaN if none has one)
	lng    float32
	own    uint16 // byte offset of the own name in label ("수원시 장안구", "논현동")
	kind   PlaceKind
	sido   uint8 // index into sidoNames
}

// name is the place's own name: "강남구", "수원시 장안구", "수원시", "논현동", "연풍리", "솔매로".
func (p *place) name() string { return p.label[p.own:] }

type placeIndex struct {
	places []place
	keys   []searchKey // sorted by key
	alias  []searchKey // 시도 aliases ("충북"), searched apart
}

// searchKey is a word-suffix of a place's label ("서울특별시 강남구 논현동",
// "강남구 논현동", "논현동"): the key is label[off:].
type searchKey struct {
	place   int32
	off     uint16
	context bool // the key starts before the place's own name
}

func (ix *placeIndex) key(k searchKey) string { return ix.places[k.place].label[k.off:] }

// named returns the places of a kind whose own name, or (for a 시 + 구) the
// 구 alone, is exactly name.
func (ix *placeIndex) named(name string, kind PlaceKind) []int32 {
	lo, _ := slices.BinarySearchFunc(ix.keys, name, func(k searchKey, q string) int { return strings.Compare(ix.key(k), q) })
	var out []int32
	for _, k := range ix.keys[lo:] {
		if ix.key(k) != name {
			break
		}
		if !k.context && ix.places[k.place].kind == kind {
			out = append(out, k.place)
		}
	}
	return out
}

// unnamed is the 시군구 of an addrPath in a 시도 without 시군구 (세종).
const unnamed = "\x00"

// addrPath identifies an area while the index is built.
type addrPath struct{ sido, sigungu, dong, ri, road string }

func buildPlaces(at func(int) *Entry, n int) *placeIndex {
	ix := &placeIndex{}
	ids := map[addrPath]int32{}
	var node func(p addrPath) int32
	add := func(p addrPath, kind PlaceKind, name, label string, parent int32) int32 {
		id := int32(len(ix.places))
		ix.places = append(ix.places, place{kind: kind, label: label, own: uint16(len(label) - len(name)), parent: parent, sido: uint8(sidoIndex(p.sido))})
		ids[p] = id
		return id
	}
	join := func(parent int32, name string) string {
		if l := ix.places[parent].label; l != "" {
			return l + " " + name
		}
		return name
	}
	node = func(p addrPath) int32 {
		if id, ok := ids[p]; ok {
			return id
		}
		switch {
		case p.ri != "":
			par := node(addrPath{sido: p.sido, sigungu: p.sigungu, dong: p.dong})
			return add(p, kindRi, p.ri, join(par, p.ri), par)
		case p.dong != "":
			area := node(addrPath{sido: p.sido, sigungu: p.sigungu})
			par := area
			if st := dongStem(p.dong); st != p.dong {
				// 명동1가 is part of 명동 (a place of its own, even where no
				// outlet's address names it).
				par = node(addrPath{sido: p.sido, sigungu: p.sigungu, dong: st})
			}
			return add(p, KindDong, p.dong, join(area, p.dong), par)
		case p.road != "":
			par := node(addrPath{sido: p.sido, sigungu: p.sigungu})
			return add(p, KindRoad, p.road, join(par, p.road), par)
		case p.sigungu == unnamed:
			// 세종 has no 시군구 (nor do addresses that leave it out and
			// name no known one): an area whose label is the 시도's, never
			// listed or matched by name.
			par := node(addrPath{sido: p.sido})
			return add(p, KindSigungu, "", ix.places[par].label, par)
		case p.sigungu != "":
			par := node(addrPath{sido: p.sido})
			if si, _, ok := strings.Cut(p.sigungu, " "); ok {
				// "수원시 장안구" is in 수원시; its label's last word makes
				// "장안구" alone a name of it too.
				label := join(par, p.sigungu)
				return add(p, KindSigungu, p.sigungu, label, node(addrPath{sido: p.sido, sigungu: si}))
			}
			return add(p, KindSigungu, p.sigungu, join(par, p.sigungu), par)
		case p.sido != "":
			return add(p, KindSido, p.sido, p.sido, -1)
		}
		return -1
	}
	type coordSum struct {
		lat, lng float64
		n        int32
	}
	var sum []coordSum
	for i := 0; i < n; i++ {
		a := at(i).Place
		if si, _, _ := strings.Cut(a.Sigungu, " "); a.Sido == "" || (a.Sigungu != "" && !isSigunguToken(si)) ||
			(a.Sigungu == "" && a.Sido != "세종특별자치시" && a.Dong == "" && a.Road == "") {
			continue // not placed (DESIGN.md §6.10 found no owner)
		}
		var leaves []int32 // the places the outlet is in, below its 시도
		base := addrPath{sido: a.Sido, sigungu: a.Sigungu}
		if a.Sigungu == "" {
			base.sigungu = unnamed
		}
		leaves = append(leaves, node(base))
		if a.Dong != "" {
			d := base
			d.dong = a.Dong
			if st := hangjeongStem(a.Dong); st != "" {
				d.dong = st // a 행정동 written where the 법정동 belongs
			}
			leaves = append(leaves, node(d))
			if a.Ri != "" {
				d.ri = a.Ri
				leaves = append(leaves, node(d))
			}
		}
		if a.Road != "" {
			r := base
			r.road = a.Road
			leaves = append(leaves, node(r))
		}
		// Each outlet counts once per place: its leaves and their ancestors.
		if len(sum) < len(ix.places) {
			sum = append(sum, make([]coordSum, len(ix.places)-len(sum))...)
		}
		var seen [8]int32
		ns := 0
		o := at(i)
		for _, id := range leaves {
			for ; id >= 0 && !slices.Contains(seen[:ns], id); id = ix.places[id].parent {
				if ns < len(seen) {
					seen[ns] = id
					ns++
				}
				p := &ix.places[id]
				p.count++
				if p.kind != KindSido {
					p.pos = append(p.pos, int32(i))
				}
				if validCoord(o.Lat, o.Lng) {
					sum[id].lat += o.Lat
					sum[id].lng += o.Lng
					sum[id].n++
				}
			}
		}
	}
	// One array for every position list: no per-place allocations or
	// append slack stay live.
	total := 0
	for id := range ix.places {
		total += len(ix.places[id].pos)
	}
	flat := make([]int32, 0, total)
	for id := range ix.places {
		p, c := &ix.places[id], sum[id]
		off := len(flat)
		flat = append(flat, p.pos...)
		p.pos = flat[off:len(flat):len(flat)]
		if c.n == 0 {
			p.lat, p.lng = float32(math.NaN()), float32(math.NaN())
		} else {
			p.lat, p.lng = float32(c.lat/float64(c.n)), float32(c.lng/float64(c.n))
		}
	}
	ix.buildKeys()
	return ix
}

func validCoord(lat, lng float64) bool { return lat >= 33 && lat <= 43 && lng >= 124 && lng <= 132 }

func (ix *placeIndex) buildKeys() {
	ks := make([]searchKey, 0, len(ix.places)*3)
	for id := range ix.places {
		p := &ix.places[id]
		if p.name() == "" {
			continue
		}
		l := p.label
		for off := 0; ; {
			ks = append(ks, searchKey{place: int32(id), off: uint16(off), context: off < int(p.own)})
			sp := strings.IndexByte(l[off:], ' ')
			if sp < 0 {
				break
			}
			off += sp + 1
		}
	}
	slices.SortFunc(ks, func(a, b searchKey) int { return strings.Compare(ix.key(a), ix.key(b)) })
	ix.keys = ks
	for id := range ix.places {
		if p := &ix.places[id]; p.kind == KindSido {
			for j, alias := range sidoAliasKeys {
				if sidoAlias[alias] == p.name() {
					ix.alias = append(ix.alias, searchKey{place: int32(id), off: uint16(j)})
				}
			}
		}
	}
}

// sidoAliasKeys are the short names of the 시도 ("서울", "충북"), which
// /api/v2/places also matches.
var sidoAliasKeys = func() []string {
	var ks []string
	for alias, official := range sidoAlias {
		if alias != official {
			ks = append(ks, alias)
		}
	}
	slices.Sort(ks)
	return ks
}()

// dongStem is the 동 a 법정동 extends with "N가" ("명동1가" → "명동",
// "금호동2가" → "금호동"), or the name itself (also for "을지로3가": 을지로
// is a road).
func dongStem(d string) string {
	st, ok := strings.CutSuffix(d, "가")
	if !ok {
		return d
	}
	st2 := strings.TrimRight(st, "0123456789")
	if len(st2) == len(st) || !strings.HasSuffix(st2, "동") || utf8.RuneCountInString(st2) < 2 {
		return d
	}
	return st2
}

// hangjeongStem is the 법정동 a numbered 행정동 is part of ("논현1동" →
// "논현동", "상계3.4동" → "상계동"), or "" if d is not numbered.
func hangjeongStem(d string) string {
	st, ok := strings.CutSuffix(d, "동")
	if !ok {
		return ""
	}
	st2 := strings.TrimRight(st, "0123456789.,·")
	if len(st2) == len(st) || utf8.RuneCountInString(st2) < 1 || strings.Trim(st[len(st2):], ".,·") == "" {
		return ""
	}
	return st2 + "동"
}

// inferPlaces fills in the 시도 and 시군구 of addresses written without them
// (DESIGN.md §6.10) from the outlets whose addresses are complete: the areas
// that have the same 시군구 name, narrowed by the 읍/면/동 and then the road;
// if several remain, the one with the outlet nearest to this one (within
// 20 km). "고성군 거진읍 …" is in 강원도 (only its 고성군 has a 거진읍); "내면
// 창촌로 45-5" is in 강원도 홍천군.
func inferPlaces(entries []*Entry) {
	type area struct{ sido, sigungu string }
	// 시 that have 구: "천안시 광덕면 …" leaves out which 구.
	hasGu := map[area]bool{}
	for _, e := range entries {
		if si, _, ok := strings.Cut(e.Place.Sigungu, " "); ok && e.Place.Sido != "" {
			hasGu[area{e.Place.Sido, si}] = true
		}
	}
	complete := func(a Address) bool {
		if a.Sido == "" {
			return false
		}
		if a.Sido == "세종특별자치시" || strings.Contains(a.Sigungu, " ") {
			return true
		}
		return isSigunguToken(a.Sigungu) && !hasGu[area{a.Sido, a.Sigungu}]
	}
	var (
		areas  = map[area][]int{} // → entries
		byName = map[string]map[area]bool{}
		byDong = map[string]map[area]bool{}
		byRoad = map[string]map[area]bool{}
	)
	put := func(m map[string]map[area]bool, k string, a area) {
		if k == "" {
			return
		}
		if m[k] == nil {
			m[k] = map[area]bool{}
		}
		m[k][a] = true
	}
	todo := false
	for i, e := range entries {
		p := e.Place
		if !complete(p) {
			todo = todo || p.Sigungu != "" || p.Dong != "" || p.Road != ""
			continue
		}
		ar := area{p.Sido, p.Sigungu}
		areas[ar] = append(areas[ar], i)
		put(byName, p.Sigungu, ar)
		if si, _, ok := strings.Cut(p.Sigungu, " "); ok {
			put(byName, si, ar) // "수원시 정자로 …" may be in any 구 of 수원시
		}
		put(byDong, p.Dong, ar)
		put(byRoad, p.Road, ar)
	}
	if !todo {
		return
	}
	for i, e := range entries {
		p := e.Place
		if complete(p) {
			continue
		}
		var cands []area
		switch {
		case p.Sigungu != "":
			for _, name := range []string{p.Sigungu, p.Sigungu + "시", p.Sigungu + "군"} {
				for a := range byName[name] {
					cands = append(cands, a)
				}
			}
		case p.Dong != "":
			for a := range byDong[p.Dong] {
				cands = append(cands, a)
			}
		case p.Road != "":
			for a := range byRoad[p.Road] {
				cands = append(cands, a)
			}
		}
		if p.Sido != "" {
			cands = slices.DeleteFunc(cands, func(a area) bool { return a.sido != p.Sido })
		}
		narrow := func(m map[string]map[area]bool, k string) {
			if k == "" || len(cands) < 2 {
				return
			}
			if kept := slices.DeleteFunc(slices.Clone(cands), func(a area) bool { return !m[k][a] }); len(kept) > 0 {
				cands = kept
			}
		}
		narrow(byDong, p.Dong)
		narrow(byRoad, p.Road)
		if len(cands) > 1 && validCoord(e.Lat, e.Lng) {
			best, bestD := -1, 20_000.0
			for j, a := range cands {
				for _, k := range areas[a] {
					if o := entries[k]; validCoord(o.Lat, o.Lng) {
						if d := distanceM(e.Lat, e.Lng, o.Lat, o.Lng); d < bestD {
							best, bestD = j, d
						}
					}
				}
			}
			if best >= 0 {
				cands = cands[best : best+1]
			}
		}
		if len(cands) != 1 {
			continue
		}
		p.Sido, p.Sigungu = cands[0].sido, cands[0].sigungu
		entries[i] = nextEntry(e.Outlet, p, e, e.rate)
	}
}

func distanceM(lat1, lng1, lat2, lng2 float64) float64 {
	p1, p2 := lat1*math.Pi/180, lat2*math.Pi/180
	dp, dl := p2-p1, (lng2-lng1)*math.Pi/180
	a := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * earthR * math.Atan2(math.Sqrt(a), math.Sqrt(1-a))
}

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
	si, gu      string // "수원시" "장안구"; "강남구" ""
	stem        bool   // si was typed without 시/군/구: "수원 장안구", "고성 거진읍"
	dong, ri    string
	road, bldg  string
	parenthesis bool // the 동 came from a parenthesis (a pasted road-name address)
}

func parseQuery(s string) query {
	var q query
	head := s
	if open := strings.IndexByte(s, '('); open >= 0 {
		head = s[:open]
		if d := parenDong(s); d != "" {
			q.dong, q.parenthesis = d, true
		}
	}
	toks := strings.Fields(head)
	i := 0
	if len(toks) > 0 {
		if n := sidoAlias[toks[0]]; n != "" {
			q.sido, q.sidoTok = n, toks[0]
			i = 1
		} else if sd, rest := splitGluedSido(toks[0]); sd != "" {
			q.sido = sd
			toks[0] = rest
		}
	}
	if i < len(toks) && (isSigunguToken(toks[i]) || isStem(toks[i])) {
		q.si, q.stem = toks[i], !isSigunguToken(toks[i])
		i++
		if (q.stem || strings.HasSuffix(q.si, "시")) && i < len(toks) && isGuToken(toks[i]) {
			q.gu = toks[i]
			i++
		}
	}
	if q.parenthesis {
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
		q.road, q.bldg, _ = roadAt(toks, i)
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
	if (err != nil || len(pos) == 0) && q.sidoTok != "" && q.si == "" && isSigunguToken(q.sidoTok) {
		// "광주시 오포읍": 광주시 is also the 경기도 시 of that name.
		alt := q
		alt.sido, alt.si, alt.sidoTok = "", q.sidoTok, ""
		if p2, err2 := ix.resolveQuery(alt, s, at); err2 == nil && len(p2) > 0 {
			return p2, nil
		}
	}
	return pos, err
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
		return ix.named(name, KindSigungu)
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
	bldg := func(i int32) string { return at(int(i)).Place.Bldg }
	if q.stem && len(ix.sigungus(q)) == 0 {
		// Not a 시군구 after all: read the address without that word.
		q.si, q.gu, q.stem = "", "", false
	}
	finer := q.dong != "" || q.ri != "" || q.road != ""
	if q.si == "" && !finer {
		if q.sido != "" {
			return nil, publicmask.Errorf(publicmask.EBadRequest,
				"address must name a 시군구 or a 읍/면/동 as well as the 시도, e.g. 서울특별시 강남구 논현동")
		}
		return nil, publicmask.Errorf(publicmask.EBadRequest,
			"address must name a 시군구, 읍/면/동 or road, e.g. 서울특별시 강남구 논현동, 강남구 논현동, 솔매로")
	}
	// Areas: the 시군구 places the query names (nil: the whole country or 시도).
	var areas []int32
	if q.si != "" {
		name := q.si
		if q.gu != "" {
			name += " " + q.gu
		}
		for _, id := range ix.sigungus(q) {
			if q.sido == "" || sidoNames[ix.places[id].sido] == q.sido {
				areas = append(areas, id)
			}
		}
		if len(areas) == 0 {
			if q.sido != "" {
				return nil, nil // a 시도 without that 시군구: nothing there
			}
			return nil, publicmask.Errorf(publicmask.EBadRequest, "no place named %q", name)
		}
	}
	// within reports the area (of areas) that holds id, or -1.
	within := func(id int32) int32 {
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
	var matches []int32 // places
	var suffix string   // what candidates add to their area's label
	switch {
	case q.dong != "":
		suffix = q.dong
		var ds []int32
		ds = append(ds, ix.named(q.dong, KindDong)...)
		if st := hangjeongStem(q.dong); st != "" {
			ds = append(ds, ix.named(st, KindDong)...)
		}
		var ris []int32
		if q.ri != "" {
			ris = ix.named(q.ri, kindRi)
		}
		for _, d := range ds {
			if q.ri != "" {
				for _, r := range ris {
					if ix.places[r].parent == d {
						matches = append(matches, r)
					}
				}
			} else {
				matches = append(matches, d)
			}
		}
		if q.ri != "" {
			suffix += " " + q.ri
		}
	case q.ri != "":
		suffix = q.ri
		matches = append(matches, ix.named(q.ri, kindRi)...)
	case q.road != "":
		suffix = q.road
		matches = append(matches, ix.named(q.road, KindRoad)...)
	}
	groups := map[int32][]int32{} // area → matched places
	if finer {
		for _, m := range matches {
			if a := within(m); a >= 0 && !slices.Contains(groups[a], m) {
				groups[a] = append(groups[a], m)
			}
		}
		if len(groups) == 0 {
			switch {
			case len(areas) == 1 || (areas == nil && q.sido != ""):
				return nil, nil // no such 동 or road there
			case len(areas) > 1:
				return nil, ix.ambiguous(s, areas, "")
			}
			return nil, publicmask.Errorf(publicmask.EBadRequest, "no place named %q", suffix)
		}
	} else {
		for _, a := range areas {
			groups[a] = []int32{a}
		}
	}
	var bldgOf func(i int32) string
	if q.bldg != "" && len(groups) >= 1 {
		// A building number narrows a road to the areas that have it
		// (§6.10), and the outlets to those at that number; where no outlet
		// has it, the road as a whole answers.
		narrowed := map[int32][]int32{}
		for a, ms := range groups {
			for _, m := range ms {
				if slices.ContainsFunc(ix.places[m].pos, func(i int32) bool { return bldg(i) == q.bldg }) {
					narrowed[a] = ms
				}
			}
		}
		if len(narrowed) > 0 {
			groups = narrowed
			bldgOf = bldg
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
				if bldgOf == nil || bldgOf(i) == q.bldg {
					out = append(out, i)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
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

// ---- Search: /api/v2/places ----

// Place is one suggestion of /api/v2/places.
type Place struct {
	Label   string
	Kind    PlaceKind
	Lat     float64 // NaN when none of its outlets has coordinates
	Lng     float64
	Outlets int
}

// search returns up to limit places whose label, or a word-suffix of it,
// starts with q: exact matches first, then matches of the place's own name,
// then matches that include its parents' names; by outlet count within each.
func (ix *placeIndex) search(q string, limit int, out []Place) []Place {
	toks := strings.Fields(q)
	if len(toks) == 0 || limit <= 0 {
		return out
	}
	if len(toks) > 1 {
		if n := sidoAlias[toks[0]]; n != "" {
			toks[0] = n // "서울 강남" → "서울특별시 강남"
		}
	}
	q = strings.Join(toks, " ")
	type hit struct {
		place   int32
		quality int8
		count   int32
	}
	better := func(a, b hit) bool {
		if a.quality != b.quality {
			return a.quality < b.quality
		}
		if a.count != b.count {
			return a.count > b.count
		}
		return ix.places[a.place].label < ix.places[b.place].label
	}
	top := make([]hit, 0, limit+1)
	consider := func(k searchKey, key string) {
		h := hit{place: k.place, quality: 1, count: ix.places[k.place].count}
		if key == q {
			h.quality = 0
		} else if k.context {
			h.quality = 2
		}
		if len(top) == limit && !better(h, top[len(top)-1]) {
			return
		}
		if j := slices.IndexFunc(top, func(x hit) bool { return x.place == h.place }); j >= 0 {
			if !better(h, top[j]) {
				return
			}
			top = slices.Delete(top, j, j+1)
		}
		j, _ := slices.BinarySearchFunc(top, h, func(x, h hit) int {
			if better(x, h) {
				return -1
			}
			return 1
		})
		top = slices.Insert(top, j, h)
		if len(top) > limit {
			top = top[:limit]
		}
	}
	lo, _ := slices.BinarySearchFunc(ix.keys, q, func(k searchKey, q string) int { return strings.Compare(ix.key(k), q) })
	for _, k := range ix.keys[lo:] {
		key := ix.key(k)
		if !strings.HasPrefix(key, q) {
			break
		}
		consider(k, key)
	}
	if len(toks) == 1 {
		for _, k := range ix.alias {
			if key := sidoAliasKeys[k.off]; strings.HasPrefix(key, q) {
				consider(k, key)
			}
		}
	}
	for _, h := range top {
		p := &ix.places[h.place]
		out = append(out, Place{Label: p.label, Kind: p.kind, Lat: float64(p.lat), Lng: float64(p.lng), Outlets: int(p.count)})
	}
	return out
}
