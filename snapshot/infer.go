package snapshot

import (
	"math"
	"slices"
	"strings"
)

// inferPlaces fills in the 시도 and 시군구 of addresses written without them
// (DESIGN.md §6.10) from the outlets whose addresses are complete: the areas
// that have the same 시군구 name, narrowed by the 읍/면/동 and then the road;
// if several remain, the one with the outlet nearest to this one (within
// 20 km). "고성군 거진읍 …" is in 강원도 (only its 고성군 has a 거진읍); "내면
// 창촌로 45-5" is in 강원도 홍천군.
//
// It returns the 시 that have 구 and what the addresses it left incomplete
// (though they name something) went by: a merge (merge.go) needs both to
// tell whether a rebuild would infer anything.
func inferPlaces(entries []*Entry) (hasGu map[area]bool, left *unplaced) {
	in := newInferrer(entries)
	if !in.todo {
		return in.hasGu, nil
	}
	for i, e := range entries {
		p := e.Place()
		if in.complete(p) {
			continue
		}
		cands := in.candidates(p)
		if len(cands) > 1 && validCoord(e.Lat, e.Lng) {
			cands = in.nearest(entries, e, cands)
		}
		if len(cands) != 1 {
			if in.namesSomething(p) {
				if left == nil {
					left = &unplaced{names: map[string]bool{}, areas: map[area]bool{}}
				}
				left.add(p, cands)
			}
			continue
		}
		p.Sido, p.Sigungu = cands[0].sido, cands[0].sigungu
		entries[i] = nextEntry(e.Outlet(), p, e, e.rate)
	}
	return in.hasGu, left
}

// unplaced is what the addresses left incomplete went by: the names an
// outlet's 시군구, 읍/면/동 or road would have to have to become one of
// their candidates or narrow them (candidates), and the candidate areas
// (an outlet there may be the nearest one). An outlet that has neither
// cannot change what inferring them finds.
type unplaced struct {
	n     int
	names map[string]bool
	areas map[area]bool
}

func (u *unplaced) add(p Address, cands []area) {
	u.n++
	for _, k := range []string{p.Sigungu, p.Dong, p.Road} {
		if k != "" {
			u.names[k] = true
		}
	}
	if p.Sigungu != "" {
		u.names[p.Sigungu+"시"], u.names[p.Sigungu+"군"] = true, true
	}
	for _, a := range cands {
		u.areas[a] = true
	}
}

// affects reports whether an outlet with the complete address p could
// change what inferring finds for the addresses of u.
func (u *unplaced) affects(p Address) bool {
	if u == nil {
		return false
	}
	si, _, _ := strings.Cut(p.Sigungu, " ")
	return u.names[p.Sigungu] || u.names[si] || u.names[p.Dong] || u.names[p.Road] || u.areas[area{p.Sido, p.Sigungu}]
}

// namesSomething reports whether an incomplete address gives anything to
// infer its area from.
func (in *inferrer) namesSomething(p Address) bool {
	return p.Sigungu != "" || p.Dong != "" || p.Road != ""
}

type area struct{ sido, sigungu string }

// inferrer holds the areas of the complete addresses, by the names an
// incomplete one may give.
type inferrer struct {
	hasGu  map[area]bool  // 시 that have 구: "천안시 광덕면 …" leaves out which 구
	areas  map[area][]int // → entries
	byName map[string]map[area]bool
	byDong map[string]map[area]bool
	byRoad map[string]map[area]bool
	todo   bool // some address is incomplete but names something
}

func newInferrer(entries []*Entry) *inferrer {
	in := &inferrer{hasGu: map[area]bool{}}
	for _, e := range entries {
		if si, _, ok := strings.Cut(e.Place().Sigungu, " "); ok && e.Place().Sido != "" {
			in.hasGu[area{e.Place().Sido, si}] = true
		}
	}
	for _, e := range entries {
		if p := e.Place(); !in.complete(p) && in.namesSomething(p) {
			in.todo = true
			break
		}
	}
	if !in.todo {
		// Every address names its area, or nothing to go by: the indexes
		// below (a map entry per outlet) would go unused.
		return in
	}
	in.areas, in.byName = map[area][]int{}, map[string]map[area]bool{}
	in.byDong, in.byRoad = map[string]map[area]bool{}, map[string]map[area]bool{}
	for i, e := range entries {
		p := e.Place()
		if !in.complete(p) {
			continue
		}
		ar := area{p.Sido, p.Sigungu}
		in.areas[ar] = append(in.areas[ar], i)
		putArea(in.byName, p.Sigungu, ar)
		if si, _, ok := strings.Cut(p.Sigungu, " "); ok {
			putArea(in.byName, si, ar) // "수원시 정자로 …" may be in any 구 of 수원시
		}
		putArea(in.byDong, p.Dong, ar)
		putArea(in.byRoad, p.Road, ar)
	}
	return in
}

func putArea(m map[string]map[area]bool, k string, a area) {
	if k == "" {
		return
	}
	if m[k] == nil {
		m[k] = map[area]bool{}
	}
	m[k][a] = true
}

func (in *inferrer) complete(a Address) bool {
	if a.Sido == "" {
		return false
	}
	if a.Sido == "세종특별자치시" || strings.Contains(a.Sigungu, " ") {
		return true
	}
	return isSigunguToken(a.Sigungu) && !in.hasGu[area{a.Sido, a.Sigungu}]
}

// candidates returns the areas an incomplete address may be in, narrowed
// by its 시도, 읍/면/동 and road.
func (in *inferrer) candidates(p Address) []area {
	var cands []area
	switch {
	case p.Sigungu != "":
		for _, name := range []string{p.Sigungu, p.Sigungu + "시", p.Sigungu + "군"} {
			for a := range in.byName[name] {
				cands = append(cands, a)
			}
		}
	case p.Dong != "":
		for a := range in.byDong[p.Dong] {
			cands = append(cands, a)
		}
	case p.Road != "":
		for a := range in.byRoad[p.Road] {
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
	narrow(in.byDong, p.Dong)
	narrow(in.byRoad, p.Road)
	return cands
}

// nearest keeps the candidate with the outlet nearest to e (within 20 km),
// or all of them if none is that near.
func (in *inferrer) nearest(entries []*Entry, e *Entry, cands []area) []area {
	best, bestD := -1, 20_000.0
	for j, a := range cands {
		for _, k := range in.areas[a] {
			if o := entries[k]; validCoord(o.Lat, o.Lng) {
				if d := distanceM(e.Lat, e.Lng, o.Lat, o.Lng); d < bestD {
					best, bestD = j, d
				}
			}
		}
	}
	if best < 0 {
		return cands
	}
	return cands[best : best+1]
}

func distanceM(lat1, lng1, lat2, lng2 float64) float64 {
	p1, p2 := lat1*math.Pi/180, lat2*math.Pi/180
	dp, dl := p2-p1, (lng2-lng1)*math.Pi/180
	a := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * earthR * math.Atan2(math.Sqrt(a), math.Sqrt(1-a))
}
