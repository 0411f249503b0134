package snapshot

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"
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
	keys   []searchKey // sorted by key (then label and kind: byKey)
	alias  []searchKey // 시도 aliases ("충북"), searched apart
	// sums are the places' coordinate sums, in fixed point so that adding
	// an import's outlets to them (merge.go) gives exactly what a rebuild
	// summing all outlets gives.
	sums []coordSum
	// labels, if set, finds the places by label and kind, for the next
	// merge (begin) to take: made by a merge for the index it made, so
	// that the merge of the next import body does not make it again
	// (~230,000 places at 540,000 outlets: 40–115 ms a body on the place
	// index's path). Taken by one merge only (Swap), and only when it
	// holds every place.
	labels atomic.Pointer[map[placeKey]int32]
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
	pb := &placeBuilder{ix: &placeIndex{}, ids: map[addrPath]int32{}}
	var sum []coordSum
	var buf []int32
	for i := 0; i < n; i++ {
		o := at(i)
		leaves := pb.leaves(buf[:0], o.Place())
		buf = leaves
		if len(leaves) == 0 {
			continue // not placed (DESIGN.md §6.10 found no owner)
		}
		if len(sum) < len(pb.ix.places) {
			sum = append(sum, make([]coordSum, len(pb.ix.places)-len(sum))...)
		}
		pb.count(int32(i), o, leaves, sum)
	}
	pb.ix.flatten(sum)
	pb.ix.keys = pb.ix.newKeys(0)
	pb.ix.sortKeys(pb.ix.keys)
	pb.ix.setAlias()
	return pb.ix
}

// placeBuilder makes the places of a registry, each once, parents first.
type placeBuilder struct {
	ix  *placeIndex
	ids map[addrPath]int32
	// byLabel, if set, finds the places instead of ids (a merge: see
	// placeIndex.merge).
	byLabel map[placeKey]int32
	buf     []byte
}

// placeKey tells any two places apart (as byKey relies on).
type placeKey struct {
	label string
	kind  PlaceKind
}

// coordSum is a sum of coordinates in units of 1e-7 degree (exact: the
// sums of 540,000 outlets stay far below 2^53), so that the order in which
// outlets are added does not change the mean.
type coordSum struct {
	lat, lng int64
	n        int32
}

const coordScale = 1e7

func (c *coordSum) add(lat, lng float64) {
	c.lat += fixedCoord(lat)
	c.lng += fixedCoord(lng)
	c.n++
}

// fixedCoord is x in units of 1e-7 degree; 0 for what is no coordinate
// (NaN, ±Inf, out of any range).
func fixedCoord(x float64) int64 {
	if !(x > -1000 && x < 1000) {
		return 0
	}
	return int64(math.Round(x * coordScale))
}

// mean is the mean position (NaN without coordinates).
func (c coordSum) mean() (lat, lng float64) {
	if c.n == 0 {
		return math.NaN(), math.NaN()
	}
	return float64(c.lat) / coordScale / float64(c.n), float64(c.lng) / coordScale / float64(c.n)
}

func (pb *placeBuilder) add(p addrPath, kind PlaceKind, name, label string, parent int32) int32 {
	ix := pb.ix
	id := int32(len(ix.places))
	ix.places = append(ix.places, place{kind: kind, label: label, own: uint16(len(label) - len(name)), parent: parent, sido: uint8(sidoIndex(p.sido))})
	if pb.byLabel != nil {
		pb.byLabel[placeKey{label, kind}] = id
	} else {
		pb.ids[p] = id
	}
	return id
}

func (pb *placeBuilder) join(parent int32, name string) string {
	if l := pb.ix.places[parent].label; l != "" {
		return l + " " + name
	}
	return name
}

// node returns the place of p, adding it and its parents if new.
func (pb *placeBuilder) node(p addrPath) int32 {
	if pb.byLabel != nil {
		if id, ok := pb.find(p); ok {
			return id
		}
	} else if id, ok := pb.ids[p]; ok {
		return id
	}
	switch {
	case p.ri != "":
		par := pb.node(addrPath{sido: p.sido, sigungu: p.sigungu, dong: p.dong})
		return pb.add(p, kindRi, p.ri, pb.join(par, p.ri), par)
	case p.dong != "":
		area := pb.node(addrPath{sido: p.sido, sigungu: p.sigungu})
		par := area
		if st := dongStem(p.dong); st != p.dong {
			// 명동1가 is part of 명동 (a place of its own, even where no
			// outlet's address names it).
			par = pb.node(addrPath{sido: p.sido, sigungu: p.sigungu, dong: st})
		}
		return pb.add(p, KindDong, p.dong, pb.join(area, p.dong), par)
	case p.road != "":
		par := pb.node(addrPath{sido: p.sido, sigungu: p.sigungu})
		return pb.add(p, KindRoad, p.road, pb.join(par, p.road), par)
	case p.sigungu == unnamed:
		// 세종 has no 시군구 (nor do addresses that leave it out and
		// name no known one): an area whose label is the 시도's, never
		// listed or matched by name.
		par := pb.node(addrPath{sido: p.sido})
		return pb.add(p, KindSigungu, "", pb.ix.places[par].label, par)
	case p.sigungu != "":
		par := pb.node(addrPath{sido: p.sido})
		if si, _, ok := strings.Cut(p.sigungu, " "); ok {
			// "수원시 장안구" is in 수원시; its label's last word makes
			// "장안구" alone a name of it too.
			label := pb.join(par, p.sigungu)
			return pb.add(p, KindSigungu, p.sigungu, label, pb.node(addrPath{sido: p.sido, sigungu: si}))
		}
		return pb.add(p, KindSigungu, p.sigungu, pb.join(par, p.sigungu), par)
	case p.sido != "":
		return pb.add(p, KindSido, p.sido, p.sido, -1)
	}
	return -1
}

// find looks the place of p up by its label and kind, as node would label
// it: "시도 시군구" (the 시도 alone for an unnamed 시군구), then the 동 and
// its 리, or the road.
func (pb *placeBuilder) find(p addrPath) (int32, bool) {
	b := append(pb.buf[:0], p.sido...)
	kind := KindSido
	if p.sigungu != "" {
		kind = KindSigungu
		if p.sigungu != unnamed {
			b = append(append(b, ' '), p.sigungu...)
		}
	}
	switch {
	case p.ri != "":
		b, kind = append(append(append(append(b, ' '), p.dong...), ' '), p.ri...), kindRi
	case p.dong != "":
		b, kind = append(append(b, ' '), p.dong...), KindDong
	case p.road != "":
		b, kind = append(append(b, ' '), p.road...), KindRoad
	}
	pb.buf = b
	id, ok := pb.byLabel[placeKey{string(b), kind}] // no copy of b
	return id, ok
}

// leaves appends to dst the places an address is in, below its 시도
// (their ancestors aside), nothing if the address is not placed. (The
// leaves of a merge's 100,000 outlets lie in one array, not in 100,000
// small ones.)
func (pb *placeBuilder) leaves(dst []int32, a Address) []int32 {
	if si, _, _ := strings.Cut(a.Sigungu, " "); a.Sido == "" || (a.Sigungu != "" && !isSigunguToken(si)) ||
		(a.Sigungu == "" && a.Sido != "세종특별자치시" && a.Dong == "" && a.Road == "") {
		return dst
	}
	base := addrPath{sido: a.Sido, sigungu: a.Sigungu}
	if a.Sigungu == "" {
		base.sigungu = unnamed
	}
	leaves := append(dst, pb.node(base))
	if a.Dong != "" {
		d := base
		d.dong = a.Dong
		if st := hangjeongStem(a.Dong); st != "" {
			d.dong = st // a 행정동 written where the 법정동 belongs
		}
		leaves = append(leaves, pb.node(d))
		if a.Ri != "" {
			d.ri = a.Ri
			leaves = append(leaves, pb.node(d))
		}
	}
	if a.Road != "" {
		r := base
		r.road = a.Road
		leaves = append(leaves, pb.node(r))
	}
	return leaves
}

// count adds the outlet at position i once to each place it is in: its
// leaves and their ancestors.
func (pb *placeBuilder) count(i int32, o *Entry, leaves []int32, sum []coordSum) {
	var seen [8]int32
	ns := 0
	for _, id := range leaves {
		for ; id >= 0 && !slices.Contains(seen[:ns], id); id = pb.ix.places[id].parent {
			if ns < len(seen) {
				seen[ns] = id
				ns++
			}
			p := &pb.ix.places[id]
			p.count++
			if p.kind != KindSido {
				p.pos = append(p.pos, i)
			}
			if validCoord(o.Lat, o.Lng) {
				sum[id].add(o.Lat, o.Lng)
			}
		}
	}
}

// flatten moves every position list into one array (no per-place
// allocations or append slack stay live) and sets each place's mean
// position.
func (ix *placeIndex) flatten(sum []coordSum) {
	total := 0
	for id := range ix.places {
		total += len(ix.places[id].pos)
	}
	flat := make([]int32, 0, total)
	for id := range ix.places {
		p := &ix.places[id]
		var c coordSum
		if id < len(sum) {
			c = sum[id]
		}
		off := len(flat)
		flat = append(flat, p.pos...)
		p.pos = flat[off:len(flat):len(flat)]
		lat, lng := c.mean()
		p.lat, p.lng = float32(lat), float32(lng)
	}
	ix.sums = sum[:min(len(sum), len(ix.places))]
	ix.packLabels()
}

// packLabels moves the places' labels into one string: at 540,000 outlets
// the index holds ~230,000 places, and the collector marks one object
// instead of one per label at every cycle.
func (ix *placeIndex) packLabels() {
	size := 0
	for id := range ix.places {
		size += len(ix.places[id].label)
	}
	buf := make([]byte, 0, size)
	for id := range ix.places {
		buf = append(buf, ix.places[id].label...)
	}
	// buf is never written again: the labels may share it.
	text := unsafe.String(unsafe.SliceData(buf), len(buf))
	off := 0
	for id := range ix.places {
		p := &ix.places[id]
		p.label = text[off : off+len(p.label)]
		off += len(p.label)
	}
}

func validCoord(lat, lng float64) bool { return lat >= 33 && lat <= 43 && lng >= 124 && lng <= 132 }

// newKeys returns the search keys of the places from id from on, unsorted.
func (ix *placeIndex) newKeys(from int) []searchKey {
	ks := make([]searchKey, 0, (len(ix.places)-from)*3)
	for id := from; id < len(ix.places); id++ {
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
	return ks
}

// byKey orders search keys by their text, then (the same text for places
// of different areas: "중앙동") by label and kind, which tell any two places
// apart, so that the order does not depend on the places' numbering (a
// merge numbers new places after the old ones, a rebuild in code order).
func (ix *placeIndex) byKey(a, b searchKey) int {
	if c := strings.Compare(ix.key(a), ix.key(b)); c != 0 {
		return c
	}
	pa, pb := &ix.places[a.place], &ix.places[b.place]
	if c := strings.Compare(pa.label, pb.label); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(pa.kind, pb.kind), cmp.Compare(a.off, b.off), cmp.Compare(a.place, b.place))
}

// sortKeys sorts keys by byKey. A long list (a merge's new places, a
// rebuild's) is sorted in two halves on two goroutines, then merged, each
// key's text taken once: the sort of ~100,000 new keys with byKey's
// lookups was ~100–350 ms of an import body's merge, which the request
// waits for. byKey tells any two keys apart: the order is the same.
func (ix *placeIndex) sortKeys(keys []searchKey) {
	if len(keys) < parallelSort {
		slices.SortFunc(keys, ix.byKey)
		return
	}
	type textKey struct {
		s string
		k searchKey
	}
	t := make([]textKey, len(keys))
	for i, k := range keys {
		t[i] = textKey{ix.key(k), k}
	}
	by := func(a, b textKey) int {
		if c := strings.Compare(a.s, b.s); c != 0 {
			return c
		}
		return ix.byKey(a.k, b.k)
	}
	a, b := t[:len(t)/2], t[len(t)/2:]
	var wg sync.WaitGroup
	wg.Go(func() { slices.SortFunc(a, by) })
	slices.SortFunc(b, by)
	wg.Wait()
	i := 0
	for len(a) > 0 && len(b) > 0 {
		if by(b[0], a[0]) < 0 {
			keys[i], b = b[0].k, b[1:]
		} else {
			keys[i], a = a[0].k, a[1:]
		}
		i++
	}
	for _, x := range a {
		keys[i], i = x.k, i+1
	}
	for _, x := range b {
		keys[i], i = x.k, i+1
	}
}

// parallelSort is the number of keys from which sortKeys sorts on two
// goroutines. A variable for tests.
var parallelSort = 4096

// setAlias lists the 시도 aliases of the places, in the order of
// sidoAliasKeys.
func (ix *placeIndex) setAlias() {
	ix.alias = nil
	sido := map[string]int32{}
	for id := range ix.places {
		if p := &ix.places[id]; p.kind == KindSido {
			sido[p.name()] = int32(id)
		}
	}
	for j, alias := range sidoAliasKeys {
		if id, ok := sido[sidoAlias[alias]]; ok {
			ix.alias = append(ix.alias, searchKey{place: id, off: uint16(j)})
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
