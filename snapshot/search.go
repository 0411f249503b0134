package snapshot

import (
	"slices"
	"strings"
)

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
	typedToks := slices.Clone(toks)
	// as typed: "광주시 오포읍" is a prefix in 경기도 광주시 as well as
	// (광주광역시 오포읍) a 시도's
	typed := ""
	if len(toks) > 1 {
		if n := sidoAlias[toks[0]]; n != "" {
			if isSigunguToken(toks[0]) {
				typed = strings.Join(toks, " ")
			}
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
	consider := func(k searchKey, key, q string) {
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
	scan := func(q string) {
		lo, _ := slices.BinarySearchFunc(ix.keys, q, func(k searchKey, q string) int { return strings.Compare(ix.key(k), q) })
		for _, k := range ix.keys[lo:] {
			key := ix.key(k)
			if !strings.HasPrefix(key, q) {
				break
			}
			consider(k, key, q)
		}
	}
	scan(q)
	if typed != "" {
		scan(typed)
	}
	// A numbered 행정동 is suggested as the 법정동 the index knows it by
	// ("화정1동", "강남구 논현1동" → 논현동; "화정1" → 화정동…).
	last := toks[len(toks)-1]
	lasts := []string{last}
	if st := numberedStem(last); st != "" {
		lasts = append(lasts, st)
		scan(strings.Join(append(slices.Clone(toks[:len(toks)-1]), st), " "))
	}
	if len(toks) > 1 && len(top) < limit {
		// A level left out ("고양시 화정" for 고양시 덕양구 화정동, "광주
		// 오포" for 경기도 광주시 오포읍, "수원 장안"): the last word
		// starts a place's own name, the words before it name places
		// above it, in order.
		head := typedToks[:len(typedToks)-1]
		for _, l := range lasts {
			lo, _ := slices.BinarySearchFunc(ix.keys, l, func(k searchKey, q string) int { return strings.Compare(ix.key(k), q) })
			for n, k := range ix.keys[lo:] {
				key := ix.key(k)
				if !strings.HasPrefix(key, l) || n >= maxSkipScan {
					break
				}
				if !k.context && ix.places[k.place].kind != KindSido && ancestorsNamed(ix.places[k.place].label[:k.off], head) {
					consider(searchKey{place: k.place, off: k.off, context: true}, key, "")
				}
			}
		}
	}
	if len(toks) == 1 {
		for _, k := range ix.alias {
			if key := sidoAliasKeys[k.off]; strings.HasPrefix(key, q) {
				consider(k, key, q)
			}
		}
	}
	for _, h := range top {
		p := &ix.places[h.place]
		out = append(out, Place{Label: p.label, Kind: p.kind, Lat: float64(p.lat), Lng: float64(p.lng), Outlets: int(p.count)})
	}
	return out
}

// maxSkipScan bounds the keys Search reads for a query with a level left
// out (a one-syllable last word starts hundreds).
const maxSkipScan = 4096

// numberedStem is the 법정동 a numbered 행정동 typed whole or in part
// stands for: "논현1동" → "논현동", "화정1" → "화정동"; "" if t is neither.
func numberedStem(t string) string {
	if st := hangjeongStem(t); st != "" {
		return st
	}
	st := strings.TrimRight(t, "0123456789")
	if len(st) == len(t) || !hangulWord(st+"동") {
		return ""
	}
	return st + "동"
}

// ancestorsNamed reports whether the words typed before the last one name,
// in order, words of prefix (the labels of the places above a place): the
// word itself, a 시도's short name ("서울"), or a 시군구 without its
// 시/군/구 ("수원", "광주" for 경기도 광주시).
func ancestorsNamed(prefix string, typed []string) bool {
	words := strings.Fields(prefix)
	j := 0
	for _, t := range typed {
		for ; j < len(words); j++ {
			w := words[j]
			if w == t || w == sidoAlias[t] || (len(w) == len(t)+len("시") && strings.HasPrefix(w, t) && isSigunguToken(w)) {
				break
			}
		}
		if j == len(words) {
			return false
		}
		j++
	}
	return true
}
