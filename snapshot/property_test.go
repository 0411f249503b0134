package snapshot

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/seed"
)

// TestApplyEqualsBuild is the read model's property: a snapshot that has
// applied N random batches (stock changes, suspensions, renames, moves, new
// outlets, repeated and stale versions) answers every query exactly as a
// snapshot built from scratch from the same outlets.
func TestApplyEqualsBuild(t *testing.T) {
	for _, c := range []struct {
		seed    uint64
		n       int
		batches int
	}{{1, 600, 200}, {2, 3000, 120}, {3, 40, 300}} {
		t.Run(fmt.Sprintf("seed=%d/outlets=%d", c.seed, c.n), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(c.seed, 7))
			pool := seed.Outlets(seed.Options{Seed: int64(c.seed), Count: c.n * 3 / 2})
			cur := map[string]publicmask.Outlet{}
			var version int64
			var start []publicmask.Outlet
			for _, o := range pool[:c.n] {
				version++
				o.Version = version
				cur[o.Code] = o
				start = append(start, o)
			}
			fresh := pool[c.n:]
			s := build(start, version, t0)
			codes := func() []string {
				var cs []string
				for k := range cur {
					cs = append(cs, k)
				}
				slices.Sort(cs)
				return cs
			}
			for b := range c.batches {
				var batch []publicmask.Outlet
				cs := codes()
				for range 1 + rng.IntN(64) {
					version++
					at := t0.Add(time.Duration(version) * time.Second)
					var o publicmask.Outlet
					switch k := rng.IntN(100); {
					case k < 3 && len(fresh) > 0: // a new outlet
						o, fresh = fresh[0], fresh[1:]
					case k < 5: // moved
						o = cur[cs[rng.IntN(len(cs))]]
						other := pool[rng.IntN(len(pool))]
						o.Addr, o.Lat, o.Lng = other.Addr, other.Lat, other.Lng
					case k < 7: // renamed or retyped
						o = cur[cs[rng.IntN(len(cs))]]
						o.Name += "약국"
						o.Type = []string{"01", "02", "03"}[rng.IntN(3)]
					case k < 10:
						o = cur[cs[rng.IntN(len(cs))]]
						o.Suspended = !o.Suspended
					default: // a sale or a delivery
						o = cur[cs[rng.IntN(len(cs))]]
						if rng.IntN(10) == 0 || o.StockAt.IsZero() {
							o.Stock += 100 + rng.IntN(200)
							o.StockAt = at
						} else {
							n := min(o.Stock, 1+rng.IntN(5))
							o.Stock -= n
							o.Sold += n
						}
					}
					o.Version, o.UpdatedAt = version, at
					cur[o.Code] = o
					batch = append(batch, o)
					if rng.IntN(20) == 0 { // a stale copy, as a poll re-reads
						old := o
						old.Version -= int64(1 + rng.IntN(3))
						old.Stock += 7
						batch = append(batch, old)
					}
				}
				rng.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
				s, _ = s.apply(batch, t0)
				if b%40 == 39 || b == c.batches-1 {
					var all []publicmask.Outlet
					for _, o := range cur {
						all = append(all, o)
					}
					sameSnapshot(t, s, build(all, version, t0), rng)
				}
			}
		})
	}
}

// sameSnapshot fails unless got and want answer alike: every entry in code
// order with its encodings, lookups, summary, radius queries, addresses and
// place search.
func sameSnapshot(t *testing.T, got, want *Snapshot, rng *rand.Rand) {
	t.Helper()
	if got.Len() != want.Len() || got.Version() != want.Version() {
		t.Fatalf("len/version %d/%d, want %d/%d", got.Len(), got.Version(), want.Len(), want.Version())
	}
	for i := range want.Len() {
		g, w := got.At(i), want.At(i)
		if g.Outlet() != w.Outlet() || g.Stat() != w.Stat() || g.Place() != w.Place() || g.sido != w.sido {
			t.Fatalf("entry %d: %+v\nwant %+v", i, g, w)
		}
		// The selling rate comes from the changes seen, which a snapshot
		// built from scratch has not: compare the encodings at equal rates.
		wr := *w
		wr.rate = g.rate
		if !bytes.Equal(g.AppendV1(nil), w.AppendV1(nil)) || !bytes.Equal(g.AppendV2(nil, 0, false), wr.AppendV2(nil, 0, false)) ||
			!bytes.Equal(g.AppendSale(nil), w.AppendSale(nil)) || !bytes.Equal(g.AppendStoreInfo(nil), w.AppendStoreInfo(nil)) {
			t.Fatalf("entry %d (%s): encodings differ", i, w.Code())
		}
		if e, ok := got.Lookup(w.Code()); !ok || e != g {
			t.Fatalf("Lookup(%s) is not At(%d)", w.Code(), i)
		}
	}
	gn, gs := got.Summary()
	wn, ws := want.Summary()
	if gn != wn || fmt.Sprint(gs) != fmt.Sprint(ws) {
		t.Fatalf("summary %v %v, want %v %v", gn, gs, wn, ws)
	}
	if g, w := got.BySigungu(), want.BySigungu(); fmt.Sprint(g) != fmt.Sprint(w) {
		t.Fatalf("BySigungu %v\nwant %v", g, w)
	}
	for range 40 {
		w := want.At(rng.IntN(want.Len()))
		m := float64(100 + rng.IntN(MaxRadius))
		if g, x := codesOf(got.Near(w.Lat, w.Lng, m, nil)), codesOf(want.Near(w.Lat, w.Lng, m, nil)); !slices.Equal(g, x) {
			t.Fatalf("Near(%v,%v,%v) = %v, want %v", w.Lat, w.Lng, m, g, x)
		}
		for _, q := range []string{w.Place().Sido + " " + w.Place().Sigungu + " " + w.Place().Dong, w.Place().Sigungu + " " + w.Place().Road} {
			ge, gerr := got.ByAddress(q)
			we, werr := want.ByAddress(q)
			if fmt.Sprint(gerr) != fmt.Sprint(werr) || !slices.Equal(entryCodes(ge), entryCodes(we)) {
				t.Fatalf("ByAddress(%q) = %v %v, want %v %v", q, entryCodes(ge), gerr, entryCodes(we), werr)
			}
		}
		q := []rune(w.Place().Dong + w.Place().Sigungu)
		if len(q) > 0 {
			p := string(q[:1+rng.IntN(len(q))])
			if g, x := got.Places(p, 10, nil), want.Places(p, 10, nil); fmt.Sprint(g) != fmt.Sprint(x) {
				t.Fatalf("Places(%q) = %v, want %v", p, g, x)
			}
		}
	}
}

func codesOf(hits []Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = fmt.Sprintf("%d@%.3f", h.Pos, h.Dist())
	}
	return out
}

func entryCodes(es []*Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Code()
	}
	return out
}

// TestAppendRFC3339 checks the hand-made whole-second form against the
// standard library's, fractional seconds and the zero time included.
func TestAppendRFC3339(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for range 2000 {
		tm := time.Unix(rng.Int64N(4e9), 0)
		if rng.IntN(4) == 0 {
			tm = tm.Add(time.Duration(rng.IntN(1e9)))
		}
		want := `"` + tm.In(publicmask.Seoul).Format(time.RFC3339Nano) + `"`
		if got := string(AppendRFC3339(nil, tm.UTC())); got != want {
			t.Fatalf("%v: %s, want %s", tm, got, want)
		}
	}
	if got := string(AppendRFC3339(nil, time.Time{})); got != "null" {
		t.Fatalf("zero time: %s", got)
	}
}
