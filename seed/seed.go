// Package seed generates the national demo outlet list: about 26,000
// pharmacies, post offices and Nonghyup Hanaro marts spread over Korea in
// proportion to population, with plausible names and road-name addresses.
// It is pure apart from ReadGeo, which works on a reader the caller
// supplies (the CSV and JSON writers are outletio's).
package seed

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/publicmask/publicmask"
)

// Area is one 시군구 (or any region) that outlets are spread over.
type Area struct {
	Sido, Sigungu string
	// Lat, Lng is the area's representative point; outlets scatter around it.
	Lat, Lng   float64
	Population int
	// Outlet counts by type. If all three are 0 they are derived (pharmacies
	// from population, posts and marts from the 2020 policy); if any is set,
	// all three are taken as given, because a real list has genuine zeros
	// (no post offices in Seoul).
	Pharmacies, Posts, Marts int
	// Dongs are 동/읍/면 names used in addresses; optional (the built-in names
	// of the same 시군구 are used, else synthetic ones).
	Dongs []string
	// Radius is the scatter radius in km; 0 = by kind of area (dense 구
	// ~1.5 km, cities ~3.5 km, rural 군 ~6 km).
	Radius float64
}

// Options of Outlets.
type Options struct {
	// Count is the total number of outlets; 0 = the national default
	// (≈ 26,000: ~23,000 pharmacies, ~1,400 post offices, ~1,800 marts, or
	// the given counts of Areas).
	Count int
	Seed  int64
	// Areas to spread over; nil = BuiltinAreas.
	Areas []Area
}

// Bounds every generated coordinate stays within (Korea's land and islands).
const (
	MinLat, MaxLat = 33.0, 39.0
	MinLng, MaxLng = 124.5, 131.0
)

// Outlets generates the outlet list: deterministic for a given Options,
// codes unique 8-digit strings, never stocked (Stock 0, zero StockAt) since
// the caller delivers the opening stock.
func Outlets(opt Options) []publicmask.Outlet {
	out, _ := generate(opt)
	return out
}

// generate also returns, for each outlet, the index of its area (for tests).
func generate(opt Options) ([]publicmask.Outlet, []int) {
	areas := opt.Areas
	if areas == nil {
		areas = builtin()
	}
	counts := allocate(areas, opt.Count)
	total := 0
	for _, c := range counts {
		total += c[0] + c[1] + c[2]
	}
	// PCG is specified exactly, so a seed gives the same list on every Go
	// version and platform.
	rng := rand.New(rand.NewPCG(uint64(opt.Seed), 0x9e3779b97f4a7c15))
	g := &gen{rng: rng, used: make(map[int]struct{}, total)}
	outlets := make([]publicmask.Outlet, 0, total)
	idx := make([]int, 0, total)
	for i := range areas {
		p := prepare(&areas[i])
		names := map[string]int{}
		for t, n := range counts[i] {
			for k := 0; k < n; k++ {
				outlets = append(outlets, g.outlet(&p, typeCodes[t], names))
				idx = append(idx, i)
			}
		}
	}
	return outlets, idx
}

var typeCodes = [3]string{publicmask.TypePharmacy, publicmask.TypePost, publicmask.TypeNonghyup}

// allocate returns outlets per area and type. Expected (fractional) counts
// are scaled to count and rounded by largest remainder, so the total is
// exact and every area gets its fair share.
func allocate(areas []Area, count int) [][3]int {
	exp := make([][3]float64, len(areas))
	sum := 0.0
	for i := range areas {
		exp[i] = expected(&areas[i])
		sum += exp[i][0] + exp[i][1] + exp[i][2]
	}
	target := int(math.Round(sum))
	if count > 0 {
		target = count
	}
	res := make([][3]int, len(areas))
	if sum <= 0 || target <= 0 {
		return res
	}
	scale := float64(target) / sum
	type rem struct {
		i, t int
		r    float64
	}
	rems := make([]rem, 0, 3*len(areas))
	got := 0
	for i := range exp {
		for t := range 3 {
			x := exp[i][t] * scale
			res[i][t] = int(x)
			got += res[i][t]
			rems = append(rems, rem{i, t, x - math.Floor(x)})
		}
	}
	// Stable sort keeps ties in table order: deterministic.
	slices.SortStableFunc(rems, func(a, b rem) int {
		switch {
		case a.r > b.r:
			return -1
		case a.r < b.r:
			return 1
		}
		return 0
	})
	for k := 0; got < target && k < len(rems); k++ {
		res[rems[k].i][rems[k].t]++
		got++
	}
	return res
}

// expected is the area's expected outlets by type at the national default.
func expected(a *Area) [3]float64 {
	if a.Pharmacies > 0 || a.Posts > 0 || a.Marts > 0 {
		return [3]float64{float64(a.Pharmacies), float64(a.Posts), float64(a.Marts)}
	}
	w := weights(a)
	r := rates()
	key := a.Sido
	if _, ok := r[key]; !ok {
		key = "" // unknown region: national rates
	}
	rt := r[key]
	return [3]float64{w[0] * rt[0], w[1] * rt[1], w[2] * rt[2]}
}

// weights are the relative claims of an area on each type within its 시도.
// Pharmacies follow population. Post offices follow the number of 읍·면
// (2020: rural post offices, none in Seoul or Gyeonggi) except in Daegu,
// where every post office sold. Marts (Hanaro marts, outside Seoul and
// Gyeonggi) follow 읍·면 plus a share of population.
func weights(a *Area) [3]float64 {
	rural := float64(countRural(a))
	popK := float64(a.Population) / 1000
	var w [3]float64
	w[0] = popK
	switch a.Sido {
	case "서울특별시", "경기도":
		return w
	case "대구광역시":
		w[1] = popK/50 + rural
	default:
		w[1] = rural
	}
	w[2] = rural + popK/40
	return w
}

// countRural counts the area's 읍/면 (guessed by kind when it has no names).
func countRural(a *Area) int {
	ds := dongsOf(a)
	n := 0
	for _, d := range ds {
		if isEupMyeon(d) {
			n++
		}
	}
	return n
}

// rates converts weights to outlets per 시도 so the built-in 시도 totals are
// met; key "" holds national rates for regions not in the table.
var rates = sync.OnceValue(func() map[string][3]float64 {
	sums := map[string][3]float64{}
	for i := range builtin() {
		a := &builtin()[i]
		w := weights(a)
		s := sums[a.Sido]
		for t := range 3 {
			s[t] += w[t]
		}
		sums[a.Sido] = s
	}
	m := map[string][3]float64{}
	var nat, natW [3]float64
	pharm, pop := 0.0, 0.0
	for _, s := range sidos {
		pharm += float64(s.Pharmacies)
		pop += float64(s.Population) / 1000
	}
	for _, s := range sidos {
		w := sums[s.Name]
		var r [3]float64
		// Pharmacies: one national rate, so they follow population.
		r[0] = pharm / pop
		tot := [3]float64{0, float64(s.Posts), float64(s.Marts)}
		for t := 1; t < 3; t++ {
			if w[t] > 0 {
				r[t] = tot[t] / w[t]
			}
			nat[t] += tot[t]
			natW[t] += w[t]
		}
		m[s.Name] = r
	}
	m[""] = [3]float64{pharm / pop, nat[1] / natW[1], nat[2] / natW[2]}
	return m
})

// place is an area ready for generation: dongs and radius filled in, and
// the dongs split by kind for weighted choice.
type place struct {
	Area
	town  []string // 동 and 읍: where most pharmacies are
	rural []string // 읍 and 면: where post offices and marts were
}

// prepare fills in an area's dongs and radius.
func prepare(a *Area) place {
	b := *a
	b.Dongs = dongsOf(a)
	if b.Radius <= 0 {
		b.Radius = defaultRadius(a)
	}
	// A point outside Korea would put every outlet out of bounds; clamp.
	b.Lat = clamp(b.Lat, MinLat, MaxLat)
	b.Lng = clamp(b.Lng, MinLng, MaxLng)
	p := place{Area: b}
	for _, d := range b.Dongs {
		if !strings.HasSuffix(d, "면") {
			p.town = append(p.town, d)
		}
		if isEupMyeon(d) {
			p.rural = append(p.rural, d)
		}
	}
	return p
}

func dongsOf(a *Area) []string {
	if len(a.Dongs) > 0 {
		return a.Dongs
	}
	if b, ok := builtinByName(a.Sido, a.Sigungu); ok {
		return b.Dongs
	}
	// Synthetic but plausible: a 군 has its seat 읍 and a few 면; a city has
	// the common 동 names found in most Korean towns.
	stem := sggStem(a.Sido, a.Sigungu)
	if strings.HasSuffix(a.Sigungu, "군") {
		return []string{stem + "읍", "북면", "남면", "동면", "서면"}
	}
	return []string{"중앙동", "신흥동", "교동", "상동", "남산동", "대명동"}
}

// builtinByName finds a built-in area by 시도 and 시군구, ignoring spaces
// ("청주시상당구" = "청주시 상당구").
func builtinByName(sido, sgg string) (*Area, bool) {
	key := sido + "|" + strings.ReplaceAll(sgg, " ", "")
	i, ok := builtinIndex()[key]
	if !ok {
		return nil, false
	}
	return &builtin()[i], true
}

var builtinIndex = sync.OnceValue(func() map[string]int {
	m := map[string]int{}
	for i, a := range builtin() {
		m[a.Sido+"|"+strings.ReplaceAll(a.Sigungu, " ", "")] = i
	}
	return m
})

func defaultRadius(a *Area) float64 {
	if b, ok := builtinByName(a.Sido, a.Sigungu); ok && b.Radius > 0 {
		return b.Radius
	}
	metro := strings.HasSuffix(a.Sido, "특별시") || strings.HasSuffix(a.Sido, "광역시")
	switch {
	case strings.HasSuffix(a.Sigungu, "구") && metro:
		return 1.5
	case strings.HasSuffix(a.Sigungu, "구"):
		return 2.5
	case strings.HasSuffix(a.Sigungu, "군"):
		return 6
	case a.Sigungu == a.Sido: // 세종
		return 5
	default:
		return 3.5
	}
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }

// gen holds the generator state shared across areas.
type gen struct {
	rng  *rand.Rand
	used map[int]struct{}
}

func (g *gen) code() string {
	for {
		c := 10_000_000 + g.rng.IntN(90_000_000)
		if _, dup := g.used[c]; !dup {
			g.used[c] = struct{}{}
			return strconv.Itoa(c)
		}
	}
}

// point scatters around the area's centre, denser towards it (radius drawn
// uniformly, not area-uniformly), as shops cluster in the town centre.
func (g *gen) point(a *Area) (float64, float64) {
	r := a.Radius * g.rng.Float64()
	th := 2 * math.Pi * g.rng.Float64()
	lat := a.Lat + r*math.Cos(th)/111.32
	lng := a.Lng + r*math.Sin(th)/(111.32*math.Cos(a.Lat*math.Pi/180))
	lat = clamp(math.Round(lat*1e6)/1e6, MinLat, MaxLat)
	lng = clamp(math.Round(lng*1e6)/1e6, MinLng, MaxLng)
	return lat, lng
}

func (g *gen) outlet(p *place, typ string, names map[string]int) publicmask.Outlet {
	o := publicmask.Outlet{Code: g.code(), Type: typ}
	dong := g.pickDong(p, typ)
	o.Name = g.name(&p.Area, typ, dong, names)
	o.Addr = g.address(&p.Area, dong)
	o.Lat, o.Lng = g.point(&p.Area)
	return o
}

// pickDong mostly puts pharmacies in 동 and 읍 (towns) and post offices and
// marts in 읍 and 면, where the 2020 policy put them; the rest anywhere.
func (g *gen) pickDong(p *place, typ string) string {
	ds := p.Dongs
	pref := p.rural
	if typ == publicmask.TypePharmacy {
		pref = p.town
	}
	if len(pref) > 0 && g.rng.IntN(10) < 8 {
		ds = pref
	}
	return ds[g.rng.IntN(len(ds))]
}

func isEupMyeon(d string) bool { return strings.HasSuffix(d, "읍") || strings.HasSuffix(d, "면") }
