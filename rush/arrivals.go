package rush

import (
	"math/rand/v2"
	"net/url"
	"strconv"
	"time"
)

// BENCHMARKS.md): 84% eligible first purchases, 7% wrong weekday, 6% a
// second try at another outlet after buying, 3% mistyped IDs.
type saleGen struct {
	e   *engine
	rng *rand.Rand
	pop *Population
	seq int
}

func newSaleGen(e *engine, rng *rand.Rand) *saleGen {
	var digits []int
	if e.rules != nil {
		digits = e.rules.DigitsToday
	}
	return &saleGen{e: e, rng: rng, pop: NewPopulation(uint64(e.cfg.Seed)^0x5eed, digits)}
}

func (g *saleGen) outlet() *outletState { return g.e.outlets[g.e.pop.pick(g.rng)] }

func (g *saleGen) next(now time.Time) *saleJob {
	g.seq++
	j := &saleJob{due: now, kind: kindFresh, outlet: g.outlet(), txn: "rush-" + g.e.runID + "-" + strconv.Itoa(g.seq)}
	j.qty = 2
	if g.rng.IntN(5) == 0 {
		j.qty = 1
	}
	x := g.rng.IntN(100)
	switch {
	case x < 7:
		if id, _, ok := g.pop.WrongDay(); ok {
			j.kind, j.buyer = kindWrongDay, id
		}
	case x < 13:
		g.e.mu.Lock()
		if n := len(g.e.againPool); n > 0 {
			i := g.rng.IntN(n)
			a := g.e.againPool[i]
			j.kind, j.buyer = kindAgain, a.buyer
			prev := a.outlet
			// Drop it from the pool: one second try each keeps the mix
			// stable however long the run.
			g.e.againPool[i] = g.e.againPool[n-1]
			g.e.againPool = g.e.againPool[:n-1]
			g.e.mu.Unlock()
			for range 8 {
				if o := g.outlet(); o.code != prev {
					j.outlet = o
					break
				}
			}
		} else {
			g.e.mu.Unlock()
		}
	case x < 16:
		id, _ := g.pop.Eligible()
		j.kind, j.buyer = kindMistyped, g.pop.Mistype(id)
	}
	if j.buyer == "" {
		j.kind = kindFresh
		j.buyer, _ = g.pop.Eligible()
	}
	return j
}

// geoPath is a storesByGeo query, made in one allocation (the
// concatenation of fmtCoord's and strconv.Itoa's strings took four; nearPath's
// three): the draws run for every read, on the cores the generator shares
// with the server (BENCHMARKS.md, branch gen29).
func geoPath(lat, lng float64, m int) string {
	var a [96]byte
	b := appendLatLng(append(a[:0], "/corona19-masks/v1/storesByGeo/json?"...), lat, lng)
	b = append(b, "&m="...)
	return string(strconv.AppendInt(b, int64(m), 10))
}

// nearPath is a v2 near query, made in one allocation as geoPath is.
func nearPath(lat, lng float64) string {
	var a [96]byte
	b := appendLatLng(append(a[:0], "/api/v2/outlets/near?"...), lat, lng)
	return string(append(b, "&m=1000&limit=50"...))
}

// appendLatLng appends "lat=…&lng=…", the coordinates as fmtCoord writes
// them.
func appendLatLng(b []byte, lat, lng float64) []byte {
	b = append(b, "lat="...)
	b = strconv.AppendFloat(b, lat, 'f', 6, 64)
	b = append(b, "&lng="...)
	return strconv.AppendFloat(b, lng, 'f', 6, 64)
}

// readGen draws what the citizens' apps ask: 50% storesByGeo, 30% v2 near,
// 12% storesByAddr, 8% one outlet's page, each around a random outlet
// (outlets are placed in proportion to population, so they stand in for
// where people are).
type readGen struct {
	e     *engine
	rng   *rand.Rand
	seq   int
	ghost int // scan every ghost-th answer for ghost stock
}

func newReadGen(e *engine, rng *rand.Rand) *readGen {
	return &readGen{e: e, rng: rng, ghost: 4}
}

var geoRadii = []struct {
	m   int
	pct int
}{{500, 15}, {1000, 50}, {2000, 20}, {3000, 10}, {5000, 5}}

func (g *readGen) next(now time.Time) *readJob {
	g.seq++
	o := g.e.outlets[g.rng.IntN(len(g.e.outlets))]
	lat, lng := jitter(g.rng, o.lat, o.lng, 800)
	j := &readJob{due: now, ghost: g.seq%g.ghost == 0}
	switch x := g.rng.IntN(100); {
	case x < 50:
		m, y := 1000, g.rng.IntN(100)
		for _, r := range geoRadii {
			if y < r.pct {
				m = r.m
				break
			}
			y -= r.pct
		}
		j.kind = "geo"
		j.path = geoPath(lat, lng, m)
	case x < 80:
		j.kind = "near"
		j.path = nearPath(lat, lng)
	case x < 92 && len(g.e.addrs) > 0:
		j.kind = "addr"
		j.path = "/corona19-masks/v1/storesByAddr/json?address=" + url.QueryEscape(g.e.addrs[g.rng.IntN(len(g.e.addrs))])
	default:
		j.kind = "outlet"
		j.path = "/api/v2/outlets/" + url.PathEscape(o.code)
	}
	return j
}
