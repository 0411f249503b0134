package snapshot

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/seed"
)

// TestMergeEqualsRebuild is the merge's property: after random sequences of
// imports (bodies of new outlets, with stock changes, renames and now and
// then a move in the same batch), a snapshot that merged each body into its
// indexes holds exactly what one that rebuilt them holds — every entry,
// the code index, the grid, the 시군구 and their counts, the place index up
// to the numbering of its places — and answers alike; and so does one
// built from all its entries at the end. Among the new outlets are
// addresses that make a rebuild infer areas (a 시 gaining its first 구, an
// address without its 시도), which the merge must infer as a rebuild does.
//
// The grid's cells are subdivided from 1,000 and 4,000 outlets on here (not
// 52,526 and 210,104), so that merges cross the subdivisions too.
//
// Batches of 64 changes or more are collected on two goroutines
// (parallelCollect lowered from 4,096): bodies of 200, 300 and 1,000 take
// that path, bodies of 3 and 40 the serial one; and so are the new search
// keys of 64 or more (parallelSort).
func TestMergeEqualsRebuild(t *testing.T) {
	defer func(u, pc, ps int) {
		mergeImports, gridUnit, parallelCollect, parallelSort = true, u, pc, ps
	}(gridUnit, parallelCollect, parallelSort)
	gridUnit, parallelCollect, parallelSort = 500, 64, 64
	for _, c := range []struct {
		seed           uint64
		start, batches int
		body           int
	}{{1, 300, 30, 200}, {2, 0, 8, 1000}, {3, 2000, 20, 40}, {4, 50, 40, 3}, {5, 100, 10, 300}} {
		if testing.Short() {
			c.batches = (c.batches + 1) / 2
		}
		t.Run(fmt.Sprintf("seed=%d/start=%d/body=%d", c.seed, c.start, c.body), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(c.seed, 19))
			// The first three odd outlets among the first ones (the old
			// outlet whose 시 gains a 구, the one left incomplete, a
			// complete one that a new incomplete one is inferred from), the
			// others somewhere among the new.
			odd := oddOutlets()
			pool := append(odd[:3:3], seed.Outlets(seed.Options{Seed: int64(c.seed), Count: c.start + c.batches*c.body})...)
			pool = append(pool, odd[3:]...)
			rng.Shuffle(len(pool)-c.start, func(i, j int) { pool[c.start+i], pool[c.start+j] = pool[c.start+j], pool[c.start+i] })
			var version int64
			cur := map[string]publicmask.Outlet{}
			for i := range pool[:c.start] {
				version++
				pool[i].Version = version
				cur[pool[i].Code] = pool[i]
			}
			s := build(pool[:c.start], version, t0)
			fresh := pool[c.start:]
			merged := merges.Load()
			for b := range c.batches {
				var batch []publicmask.Outlet
				var codes []string
				for k := range cur {
					codes = append(codes, k)
				}
				slices.Sort(codes)
				for range 1 + rng.IntN(c.body) {
					version++
					at := t0.Add(time.Duration(version) * time.Second)
					var o publicmask.Outlet
					switch k := rng.IntN(100); {
					case k < 70 && len(fresh) > 0 || len(codes) == 0:
						if len(fresh) == 0 {
							continue
						}
						o, fresh = fresh[0], fresh[1:]
						if rng.IntN(3) == 0 {
							o.Stock, o.StockAt = 100+rng.IntN(400), at
						}
					case k < 72 && b%3 == 2: // moved: this batch is rebuilt either way
						o = cur[codes[rng.IntN(len(codes))]]
						o.Lat += 0.01
					case k < 76:
						o = cur[codes[rng.IntN(len(codes))]]
						o.Name += "약국"
					default:
						o = cur[codes[rng.IntN(len(codes))]]
						o.Stock += 50 + rng.IntN(100)
						o.StockAt = at
						if rng.IntN(4) == 0 {
							o.Suspended = !o.Suspended
						}
					}
					o.Version, o.UpdatedAt = version, at
					cur[o.Code] = o
					batch = append(batch, o)
				}
				mergeImports = false
				want, wantApplied := s.apply(slices.Clone(batch), at0(version))
				mergeImports = true
				got, gotApplied := s.apply(slices.Clone(batch), at0(version))
				sameIndexes(t, got, want)
				sameSnapshot(t, got, want, rng)
				if len(gotApplied) != len(wantApplied) {
					t.Fatalf("batch %d: %d entries applied, want %d", b, len(gotApplied), len(wantApplied))
				}
				for j := range gotApplied {
					if e, ok := got.Lookup(gotApplied[j].Code()); !ok || e != gotApplied[j] {
						t.Fatalf("batch %d: applied entry %s is not the snapshot's", b, gotApplied[j].Code())
					}
					if gotApplied[j].Outlet() != wantApplied[j].Outlet() {
						t.Fatalf("batch %d: applied %+v, want %+v", b, gotApplied[j].Outlet(), wantApplied[j].Outlet())
					}
				}
				s = got
			}
			all := make([]*Entry, s.n)
			for i := range all {
				all[i] = s.At(i)
			}
			scratch := fromEntries(all, s.version, s.asOf)
			scratch.sales = s.sales
			sameIndexes(t, s, scratch)
			sameSnapshot(t, s, scratch, rng)
			if merges.Load() == merged {
				t.Fatal("no batch was merged")
			}
		})
	}
}

func at0(v int64) time.Time { return t0.Add(time.Duration(v) * time.Second) }

// oddOutlets are addresses that make a rebuild infer an area: a 시 without
// its 구 and, later in the pool, the same 시 with a 구; an address without
// its 시도 that names an area no outlet is in yet, and later one in that
// area; one without its 시도 in an area that is there; more without their
// 시도 or 시군구.
func oddOutlets() []publicmask.Outlet {
	mk := func(code, addr string, lat, lng float64) publicmask.Outlet {
		return publicmask.Outlet{Code: code, Name: "가상약국", Addr: addr, Type: publicmask.TypePharmacy, Lat: lat, Lng: lng}
	}
	return []publicmask.Outlet{
		mk("90000001", "충청남도 가상시 중앙로 1", 36.8, 127.1),
		mk("90000007", "나무시 동구 숲길 5", 36.5, 127.9),
		mk("90000009", "충청북도 숲시 별로 3", 36.6, 127.5),
		mk("90000010", "숲시 별로 9", 36.61, 127.5),
		mk("90000002", "충청남도 가상시 동구 중앙로 2", 36.8, 127.11),
		mk("90000008", "충청북도 나무시 동구 숲길 8", 36.51, 127.9),
		mk("90000003", "가상시 서구 한길로 5", 36.81, 127.12),
		mk("90000004", "충청남도 가상시 동구 한길로 7 (가상동)", 36.82, 127.1),
		mk("90000005", "가상동 한길로 9", 36.83, 127.1),
	}
}

// sameIndexes fails unless got and want hold the same indexes: the code
// index, the grid, the 시군구 and the place index (compared through the
// places' labels: the two may number the places differently).
func sameIndexes(t *testing.T, got, want *Snapshot) {
	t.Helper()
	for i := range want.n {
		if g, w := got.At(i), want.At(i); !reflect.DeepEqual(*g, *w) {
			t.Fatalf("entry %d: %+v\nwant %+v", i, *g, *w)
		}
	}
	check := func(what string, g, w any) {
		t.Helper()
		if gs, ok := g.([]string); ok {
			ws := w.([]string)
			for i := range min(len(gs), len(ws)) {
				if gs[i] != ws[i] {
					t.Fatalf("%s differ at %d:\n%s\nwant\n%s", what, i, gs[i], ws[i])
				}
			}
			if len(gs) != len(ws) {
				t.Fatalf("%s: %d lines, want %d", what, len(gs), len(ws))
			}
			return
		}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("%s differ:\n%v\nwant\n%v", what, g, w)
		}
	}
	check("selling", got.selling, want.selling)
	check("summary", *got.summary, *want.summary)
	check("sgg counts", got.sgg, want.sgg)
	check("code index", got.reg.codes, want.reg.codes)
	check("grid", *got.reg.geo, *want.reg.geo)
	check("sgg", got.reg.sgg, want.reg.sgg)
	check("sgg sums", got.reg.sggSum, want.reg.sggSum)
	check("sggOf", got.reg.sggOf, want.reg.sggOf)
	check("hasGu", got.reg.hasGu, want.reg.hasGu)
	check("unplaced", got.reg.unplaced, want.reg.unplaced)
	check("places", canonicalPlaces(got.reg.places), canonicalPlaces(want.reg.places))
}

// canonicalPlaces describes a place index without its numbering: each place
// by its kind and label, its parent by the same, its search keys in order,
// and its area path as paths() makes it again.
func canonicalPlaces(ix *placeIndex) []string {
	name := func(id int32) string {
		if id < 0 {
			return "-"
		}
		return fmt.Sprintf("%d:%s", ix.places[id].kind, ix.places[id].label)
	}
	var out []string
	for id := range ix.places {
		p := &ix.places[id]
		out = append(out, fmt.Sprintf("%s own=%d parent=%s count=%d pos=%v lat=%x lng=%x sido=%d sum=%v",
			name(int32(id)), p.own, name(p.parent), p.count, p.pos, math.Float32bits(p.lat), math.Float32bits(p.lng), p.sido, ix.sums[id]))
	}
	slices.Sort(out)
	for _, k := range ix.keys {
		out = append(out, fmt.Sprintf("key %s@%d %v", name(k.place), k.off, k.context))
	}
	for _, k := range ix.alias {
		out = append(out, fmt.Sprintf("alias %s@%d", name(k.place), k.off))
	}
	return out
}

// A merge leaves the new place index its map of places by label, and the
// next merge takes it instead of making it again; a merge from an index
// whose map was taken (a second merge from the same snapshot) makes its
// own. Every map holds each place of its index under its label and kind,
// and the merged indexes equal the rebuilt ones.
func TestMergeCarriesPlaceLabels(t *testing.T) {
	pool := seed.Outlets(seed.Options{Seed: 7, Count: 3000})
	for i := range pool {
		pool[i].Version = int64(i + 1)
	}
	s := build(pool[:1000], 1000, t0)
	if s.reg.places.labels.Load() != nil {
		t.Fatal("a built index holds a map of labels")
	}
	checkLabels := func(name string, ix *placeIndex) {
		t.Helper()
		m := ix.labels.Load()
		if m == nil {
			t.Fatalf("%s: the merged index holds no map of labels", name)
		}
		if len(*m) != len(ix.places) {
			t.Fatalf("%s: the map holds %d places, the index %d", name, len(*m), len(ix.places))
		}
		for id := range ix.places {
			p := &ix.places[id]
			if got, ok := (*m)[placeKey{p.label, p.kind}]; !ok || got != int32(id) {
				t.Fatalf("%s: place %d (%q) maps to %d, %v", name, id, p.label, got, ok)
			}
		}
	}
	apply := func(name string, s *Snapshot, batch []publicmask.Outlet) *Snapshot {
		t.Helper()
		defer func() { mergeImports = true }()
		mergeImports = false
		want, _ := s.apply(slices.Clone(batch), t0)
		mergeImports = true
		m0 := merges.Load()
		got, _ := s.apply(slices.Clone(batch), t0)
		if merges.Load() == m0 {
			t.Fatalf("%s: not merged", name)
		}
		sameIndexes(t, got, want)
		checkLabels(name, got.reg.places)
		return got
	}
	a := apply("first", s, pool[1000:1500])
	if s.reg.places.labels.Load() != nil {
		t.Fatal("the merged-from index kept its map")
	}
	m := a.reg.places.labels.Load()
	b := apply("next", a, pool[1500:2000])
	if a.reg.places.labels.Load() != nil {
		t.Fatal("the next merge did not take the map")
	}
	if reflect.ValueOf(*b.reg.places.labels.Load()).Pointer() != reflect.ValueOf(*m).Pointer() {
		t.Fatal("the next merge made a map instead of taking the one there was")
	}
	// From a again: its map is gone, this merge makes one.
	apply("again", a, pool[2000:3000])
}
