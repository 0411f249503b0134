package snapshot

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// merges counts the batches merged (for tests).
var merges atomic.Int64

// merge is apply for a batch that adds outlets and moves none (an import
// body): the new outlets are merged into the indexes of s, in time
// proportional to the merge (the old positions are shifted, the old index
// arrays copied once), instead of every index being built again from all
// the outlets (hashing and sorting them all, after every import body).
// The result is what rebuild would make (TestMergeEqualsRebuild). Where
// areas may have to be inferred it infers them over all outlets, as a
// rebuild does, and returns nil (rebuild) if that changes an old outlet's.
func (s *Snapshot) merge(c *changeSet, asOf time.Time) *Snapshot {
	var fresh []*Entry // the new entries, in the batch's order
	var in []int       // fresh[q] is c.applied[in[q]]
	for j, e := range c.applied {
		if c.pos[j] < 0 {
			fresh, in = append(fresh, e), append(in, j)
		}
	}
	n := s.n + len(fresh)
	reg := s.reg
	// The new outlets' places need only their addresses: found (or added)
	// beside the checks, sorting and placing below, the longest part of
	// the place index's merge is off the merge's path (and not used if
	// areas have to be inferred: rare).
	began := make(chan *placeMerge, 1)
	labels := reg.places.takeLabels()
	go func() { began <- reg.places.begin(fresh, labels) }()
	hasGu, quick := reg.mergeHasGu(fresh)

	// The entries in code order, and where each old position goes. An
	// import's body comes in a few runs in code order already (its chunks
	// in about the order they committed): the codes are sorted as strings,
	// not looked up in the entries at each comparison.
	type byCode struct {
		code string
		q    int
	}
	order := make([]byCode, len(fresh))
	for q, e := range fresh {
		order[q] = byCode{e.Code(), q}
	}
	slices.SortFunc(order, func(a, b byCode) int { return strings.Compare(a.code, b.code) })
	perm := make([]int, len(fresh)) // added[k] is fresh[perm[k]]
	added := make([]*Entry, len(fresh))
	from := make([]int, len(fresh)) // added[k] is c.applied[from[k]]
	for k, o := range order {
		perm[k], added[k], from[k] = o.q, fresh[o.q], in[o.q]
	}
	// rehome copies the new entries (same codes) beside the merge of the
	// positions below, which needs only their codes.
	var homed sync.WaitGroup
	homed.Go(func() { rehome(added) })
	cur := make([]*Entry, s.n)
	for i := range s.n {
		cur[i] = s.At(i)
	}
	for j, e := range c.applied {
		if c.pos[j] >= 0 {
			cur[c.pos[j]] = e
		}
	}
	all := make([]*Entry, 0, n)
	remap := make([]int32, s.n) // old position → new
	at := make([]int32, len(added))
	i, k := 0, 0
	for i < len(cur) || k < len(added) {
		if k == len(added) || (i < len(cur) && cur[i].Code() < order[k].code) {
			remap[i] = int32(len(all))
			all = append(all, cur[i])
			i++
		} else { // added[k] once rehome has made it (the code is the same)
			at[k] = int32(len(all))
			all = append(all, fresh[perm[k]])
			k++
		}
	}
	homed.Wait()
	for k, j := range from { // the entries ns holds (rehome copies them)
		c.applied[j] = added[k]
		all[at[k]] = added[k]
	}
	left := reg.unplaced
	if !quick {
		// Areas may have to be inferred: as a rebuild does, over all the
		// outlets. If that changes an old outlet's area, its places in the
		// indexes change too: rebuild. New outlets take what it inferred.
		<-began // begun with the areas before: not used
		hasGu, left = inferPlaces(all)
		for i, e := range cur {
			if all[remap[i]] != e {
				return nil
			}
		}
		for k, j := range from {
			added[k] = all[at[k]]
			c.applied[j] = added[k]
		}
	}

	ns := &Snapshot{version: c.version, asOf: asOf, n: n, sales: c.sales}
	ns.layout(all)
	// The chunks with an entry that has a sell-out time, as a rebuild marks
	// them: an old entry can have one only if its chunk was marked (during
	// an import, hardly any is), the batch's entries are looked at.
	ns.selling = make([]bool, ns.nChunks())
	for i := range s.n {
		if s.selling[i>>chunkBits] && cur[i].hasSellout() {
			ns.selling[remap[i]>>chunkBits] = true
		}
	}
	for j, e := range c.applied {
		if c.pos[j] >= 0 && e.hasSellout() {
			ns.selling[remap[c.pos[j]]>>chunkBits] = true
		}
	}
	for k, e := range added {
		if e.hasSellout() {
			ns.selling[at[k]>>chunkBits] = true
		}
	}
	sum := *s.summary
	ns.summary = &sum
	places := make(chan *placeIndex, 1)
	go func() {
		if quick {
			places <- (<-began).finish(ns.At, remap, at, perm)
		} else { // the places of what was inferred
			places <- reg.places.begin(added, nil).finish(ns.At, remap, at, nil)
		}
	}()
	// The code index, the grid and the 시군구 are merged side by side
	// (each reads ns's entries and writes only its own part).
	nr := &registry{hasGu: hasGu, unplaced: left}
	var codes codeIndex
	var geo *grid
	var wg sync.WaitGroup
	wg.Go(func() { codes = reg.codes.merge(ns.At, remap, at) })
	wg.Go(func() {
		if div := gridDiv(n); div == reg.geo.div {
			geo = reg.geo.merge(ns.At, remap, at)
		} else { // finer cells (twice in a load of 540,000): that index alone is built again
			geo = newGrid(ns.At, n, div)
		}
	})
	ns.sgg = nr.mergeSigungu(reg, s, ns, c, remap, at)
	wg.Wait()
	nr.codes, nr.geo = codes, geo
	nr.places = <-places
	ns.reg = nr
	merges.Add(1)
	return ns.finish()
}

// mergeHasGu returns the 시 that have 구 once added are in, and false if a
// rebuild may infer an area: a new outlet's address is incomplete (and
// names something) or may be the missing clue to an old incomplete one,
// or a 시 gains its first 구 while an old outlet's address names that 시
// without one.
func (reg *registry) mergeHasGu(added []*Entry) (map[area]bool, bool) {
	hasGu := reg.hasGu
	for _, e := range added {
		p := e.Place()
		if si, _, ok := strings.Cut(p.Sigungu, " "); ok && p.Sido != "" && !hasGu[area{p.Sido, si}] {
			if len(hasGu) == len(reg.hasGu) {
				hasGu = make(map[area]bool, len(reg.hasGu)+1)
				for a := range reg.hasGu {
					hasGu[a] = true
				}
			}
			hasGu[area{p.Sido, si}] = true
		}
	}
	if len(hasGu) > len(reg.hasGu) {
		// Every old outlet with a known 시도 and 시군구 is in reg.sgg; the
		// others are incomplete already (and counted in unplaced if they
		// name something).
		for _, p := range reg.sgg {
			if hasGu[area{p.sido, p.sigungu}] && !reg.hasGu[area{p.sido, p.sigungu}] {
				return nil, false
			}
		}
	}
	in := &inferrer{hasGu: hasGu}
	for _, e := range added {
		p := e.Place()
		if !in.complete(p) && in.namesSomething(p) {
			return nil, false
		}
		if in.complete(p) && reg.unplaced.affects(p) {
			// It may be what an address left incomplete was waiting for.
			return nil, false
		}
	}
	return hasGu, true
}

// merge is the code index with the outlets at positions at (ascending)
// added, the old positions moved by remap: newCodeIndex of the merged
// entries, without hashing or sorting the old ones again.
func (c codeIndex) merge(get func(int) *Entry, remap, at []int32) codeIndex {
	type hp struct {
		h uint64
		p int32
	}
	add := make([]hp, len(at))
	for j, p := range at {
		add[j] = hp{codeHash(get(int(p)).Code()), p}
	}
	slices.SortFunc(add, func(a, b hp) int { return cmp.Or(cmp.Compare(a.h, b.h), cmp.Compare(a.p, b.p)) })
	n := len(c.hash) + len(add)
	m := codeIndex{hash: make([]uint64, 0, n), pos: make([]int32, 0, n)}
	i, k := 0, 0
	for i < len(c.hash) || k < len(add) {
		if k < len(add) && (i == len(c.hash) || add[k].h < c.hash[i] || (add[k].h == c.hash[i] && add[k].p < remap[c.pos[i]])) {
			m.hash, m.pos = append(m.hash, add[k].h), append(m.pos, add[k].p)
			k++
		} else {
			m.hash, m.pos = append(m.hash, c.hash[i]), append(m.pos, remap[c.pos[i]])
			i++
		}
	}
	m.runs()
	return m
}

// merge is the grid with the outlets at positions at added (newGrid of
// the merged entries at the same cell size).
func (g *grid) merge(get func(int) *Entry, remap, at []int32) *grid {
	type pt struct {
		key uint32
		i   int32
	}
	add := make([]pt, 0, len(at))
	for _, p := range at {
		e := get(int(p))
		if r, c, ok := g.cellOf(e.Lat, e.Lng); ok {
			add = append(add, pt{uint32(r*g.cols + c), p})
		}
	}
	slices.SortFunc(add, func(a, b pt) int { return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.i, b.i)) })
	n := len(g.keys) + len(add)
	m := &grid{div: g.div, cell: g.cell, cols: g.cols, nrow: g.nrow,
		keys: make([]uint32, 0, n), lat: make([]float64, 0, n), lng: make([]float64, 0, n),
		cos: make([]float64, 0, n), idx: make([]int32, 0, n)}
	j, k := 0, 0
	for j < len(g.keys) || k < len(add) {
		if k < len(add) && (j == len(g.keys) || add[k].key < g.keys[j] || (add[k].key == g.keys[j] && add[k].i < remap[g.idx[j]])) {
			e := get(int(add[k].i))
			m.keys, m.lat, m.lng, m.idx = append(m.keys, add[k].key), append(m.lat, e.Lat), append(m.lng, e.Lng), append(m.idx, add[k].i)
			m.cos = append(m.cos, math.Cos(e.Lat*math.Pi/180))
			k++
		} else {
			m.keys, m.lat, m.lng, m.idx = append(m.keys, g.keys[j]), append(m.lat, g.lat[j]), append(m.lng, g.lng[j]), append(m.idx, remap[g.idx[j]])
			m.cos = append(m.cos, g.cos[j])
			j++
		}
	}
	m.setRows()
	return m
}

// mergeSigungu sets r's 시군구 list, sums and each outlet's 시군구 for ns
// (s with the outlets at positions at added; the changes of the batch
// applied), and returns ns's counts per 시군구.
func (r *registry) mergeSigungu(old *registry, s, ns *Snapshot, c *changeSet, remap, at []int32) [][nStats]int32 {
	t := sggTally{areas: make([]area, len(old.sgg), len(old.sgg)+8), sums: slices.Clone(old.sggSum),
		seen: make(map[area]int32, len(old.sgg))}
	for j, p := range old.sgg {
		t.areas[j] = area{p.sido, p.sigungu}
		t.seen[t.areas[j]] = int32(j)
	}
	addOf := make([]int32, len(at)) // the new outlets' areas (-1: none)
	for j, p := range at {
		addOf[j] = t.add(ns.At(int(p)))
	}
	// The means of the areas that gained outlets change, and new areas
	// take their places in the list (a few hundred areas: sorted again).
	var id []int32 // area → its place in the sorted list
	r.sgg, r.sggSum, id = sortSigungu(t.areas, t.sums)
	of := make([]int32, ns.n)
	next := func(x int32) int32 {
		if x < 0 {
			return x
		}
		return id[x]
	}
	for i, x := range old.sggOf {
		of[remap[i]] = next(x)
	}
	for j, p := range at {
		of[p] = next(addOf[j])
	}
	r.sggOf = of

	// The counts: the old ones in their new places, then the batch's
	// changes (as patch moves them) and the new outlets.
	counts := make([][nStats]int32, len(r.sgg))
	for x := range s.sgg {
		counts[next(int32(x))] = s.sgg[x]
	}
	for j, e := range c.applied {
		if c.pos[j] < 0 {
			continue
		}
		o := s.At(int(c.pos[j]))
		ns.summary[o.sido][o.stat]--
		ns.summary[e.sido][e.stat]++
		if x := of[remap[c.pos[j]]]; x >= 0 {
			counts[x][o.stat]--
			counts[x][e.stat]++
		}
	}
	for _, p := range at {
		e := ns.At(int(p))
		ns.summary[e.sido][e.stat]++
		if x := of[p]; x >= 0 {
			counts[x][e.stat]++
		}
	}
	return counts
}

// placeMerge is a merge of new outlets into a place index (ix), in two
// steps: begin finds or adds the places of the new outlets, which needs
// their addresses only, finish counts them at their positions.
type placeMerge struct {
	ix, nx *placeIndex
	pb     *placeBuilder
	// The leaves of the outlets given to begin, in that order: the k-th
	// outlet's are leaves[off[k]:off[k+1]] (none: not placed).
	leaves []int32
	off    []int32
}

// takeLabels takes ix's map of places by label (see placeIndex.labels), or
// returns nil: a merge takes it before it begins, and only one does.
func (ix *placeIndex) takeLabels() map[placeKey]int32 {
	m := ix.labels.Swap(nil)
	if m == nil || len(*m) != len(ix.places) {
		return nil
	}
	return *m
}

// begin starts the merge of the outlets added: it finds or adds their
// places (new places come after the old ones, numbered in the order of
// added; nothing reads the numbers but the index itself). labels is ix's
// map of places by label, taken from it (takeLabels), or nil to make one;
// begin adds the new places to it and leaves it to the new index.
func (ix *placeIndex) begin(added []*Entry, labels map[placeKey]int32) *placeMerge {
	nx := &placeIndex{places: slices.Clone(ix.places)}
	for id := range nx.places {
		nx.places[id].pos = nil // from here on, the new outlets' positions only
	}
	if labels == nil {
		labels = make(map[placeKey]int32, len(ix.places))
		for id := range ix.places {
			p := &ix.places[id]
			labels[placeKey{p.label, p.kind}] = int32(id)
		}
	}
	pb := &placeBuilder{ix: nx, byLabel: labels}
	pm := &placeMerge{ix: ix, nx: nx, pb: pb, leaves: make([]int32, 0, 3*len(added)), off: make([]int32, len(added)+1)}
	for k, e := range added {
		pm.leaves = pb.leaves(pm.leaves, e.Place())
		pm.off[k+1] = int32(len(pm.leaves))
	}
	nx.labels.Store(&pb.byLabel) // every place of nx: finish adds none
	return pm
}

// finish is the place index with the outlets given to begin added at
// positions at (ascending; at[k] is the outlet begin had at which[k], or
// at k if which is nil), the old positions moved by remap: what
// buildPlaces makes of the merged entries, but for the numbering of the
// places.
func (pm *placeMerge) finish(get func(int) *Entry, remap, at []int32, which []int) *placeIndex {
	ix, nx, pb := pm.ix, pm.nx, pm.pb
	old := len(ix.places)
	sum := slices.Clone(ix.sums)
	if len(sum) < len(nx.places) {
		sum = append(sum, make([]coordSum, len(nx.places)-len(sum))...)
	}
	for k, p := range at {
		q := k
		if which != nil {
			q = which[k]
		}
		if leaves := pm.leaves[pm.off[q]:pm.off[q+1]]; len(leaves) > 0 {
			pb.count(p, get(int(p)), leaves, sum)
		}
	}
	total := 0
	for id := range nx.places {
		total += len(nx.places[id].pos)
		if id < old {
			total += len(ix.places[id].pos)
		}
	}
	flat := make([]int32, 0, total)
	for id := range nx.places {
		p := &nx.places[id]
		var was []int32
		if id < old {
			was = ix.places[id].pos
		}
		off := len(flat)
		add := p.pos
		for len(was) > 0 || len(add) > 0 {
			if len(add) == 0 || (len(was) > 0 && remap[was[0]] < add[0]) {
				flat, was = append(flat, remap[was[0]]), was[1:]
			} else {
				flat, add = append(flat, add[0]), add[1:]
			}
		}
		p.pos = flat[off:len(flat):len(flat)]
		lat, lng := sum[id].mean()
		p.lat, p.lng = float32(lat), float32(lng)
	}
	nx.sums = sum
	added := nx.newKeys(old)
	nx.sortKeys(added)
	// Each new key goes where a search from the last one puts it (the
	// keys are sorted: a galloping search compares a few keys a new one,
	// where a binary search over the rest compared ~20); the old keys
	// between are copied as they are.
	nx.keys = make([]searchKey, 0, len(ix.keys)+len(added))
	rest := ix.keys
	for _, k := range added {
		b := 1
		for b < len(rest) && nx.byKey(rest[b], k) < 0 {
			b *= 2
		}
		lo := b / 2 // rest[lo] < k if b > 1
		j, _ := slices.BinarySearchFunc(rest[lo:min(b+1, len(rest))], k, nx.byKey)
		j += lo
		nx.keys = append(append(nx.keys, rest[:j]...), k)
		rest = rest[j:]
	}
	nx.keys = append(nx.keys, rest...)
	nx.setAlias()
	return nx
}
