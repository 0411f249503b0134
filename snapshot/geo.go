package snapshot

import (
	"math"
	"runtime"
	"slices"
)

// Geo index: a uniform lat/lng grid stored as one array sorted by cell key
// (row-major), with the points' coordinates alongside.
//
// Why a grid: the points are static between registry changes (stock changes
// never move an outlet), the query radius is bounded (≤ 5 km), and density is
// bounded (the densest Seoul blocks hold a few dozen pharmacies per km²).
// Under those conditions a grid answers a radius query by scanning a handful
// of cells, needs no dependency, and builds in a few milliseconds; an R-tree
// or S2 would buy nothing for 26,000 points. Because cells of one row are
// contiguous in the sorted array, a query does one binary search per row of
// cells it spans instead of one lookup per cell, and the structure is three
// flat arrays (no per-cell allocations, ~0.5 MB for the whole country).
const (
	gridCell   = 0.005 // degrees: ~550 m north–south, ~440 m east–west at 37°N
	gridLat0   = 32.5  // queries are limited to 33…43 / 124…132; the margin
	gridLat1   = 43.5  // keeps outlets just outside those bounds findable
	gridLng0   = 123.5 // within 5 km
	gridLng1   = 132.5
	gridCols   = int((gridLng1-gridLng0)/gridCell) + 1
	gridRows   = int((gridLat1-gridLat0)/gridCell) + 1
	earthR     = 6371008.8 // mean Earth radius (IUGG), metres
	mPerDegLat = math.Pi * earthR / 180
	// MaxRadius is the largest radius served (2020 clients sent 10 km and got 5).
	MaxRadius = 5000
)

type grid struct {
	// The cells are gridCell/div wide: div grows with the registry (1 for
	// the national 26,000, 4 for 540,000), so that a cell holds about as
	// many outlets whatever the count and a radius answering a few dozen
	// scans about as many candidates.
	div        int
	cell       float64
	cols, nrow int
	rows       []int32   // where each row of cells starts in keys (nrow+1)
	keys       []uint32  // cell key per point, ascending
	lat        []float64 // point coordinates, same order
	lng        []float64
	cos        []float64 // cos(lat), precomputed: half the trigonometry of a query
	idx        []int32   // position of the point in the snapshot's code order
}

func cellOf(lat, lng float64) (row, col int, ok bool) {
	if !(lat >= gridLat0 && lat <= gridLat1 && lng >= gridLng0 && lng <= gridLng1) {
		return 0, 0, false // also rejects NaN and outlets without coordinates
	}
	return int((lat - gridLat0) / gridCell), int((lng - gridLng0) / gridCell), true
}

// gridDiv is the subdivision of gridCell for n outlets: 1 up to about
// twice the national count, then 2, then 4 (about sixteen times).
func gridDiv(n int) int {
	switch {
	case n > 8*gridUnit:
		return 4
	case n > 2*gridUnit:
		return 2
	}
	return 1
}

// gridUnit is the national outlet count; a variable so that tests can
// cross the subdivisions with fewer outlets.
var gridUnit = 26_263

func (g *grid) cellOf(lat, lng float64) (row, col int, ok bool) {
	if !(lat >= gridLat0 && lat <= gridLat1 && lng >= gridLng0 && lng <= gridLng1) {
		return 0, 0, false // also rejects NaN and outlets without coordinates
	}
	return int((lat - gridLat0) / g.cell), int((lng - gridLng0) / g.cell), true
}

func buildGrid(entries func(i int) *Entry, n int) *grid { return newGrid(entries, n, gridDiv(n)) }

func newGrid(entries func(i int) *Entry, n, div int) *grid {
	g := &grid{div: div, cell: gridCell / float64(div), cols: gridCols * div, nrow: gridRows * div}
	type pt struct {
		key      uint32
		lat, lng float64
		i        int32
	}
	pts := make([]pt, 0, n)
	for i := 0; i < n; i++ {
		e := entries(i)
		r, c, ok := g.cellOf(e.Lat, e.Lng)
		if !ok {
			continue
		}
		pts = append(pts, pt{uint32(r*g.cols + c), e.Lat, e.Lng, int32(i)})
	}
	slices.SortFunc(pts, func(a, b pt) int {
		if a.key != b.key {
			return int(a.key) - int(b.key)
		}
		return int(a.i - b.i)
	})
	g.keys = make([]uint32, len(pts))
	g.lat = make([]float64, len(pts))
	g.lng = make([]float64, len(pts))
	g.cos = make([]float64, len(pts))
	g.idx = make([]int32, len(pts))
	for j, p := range pts {
		g.keys[j], g.lat[j], g.lng[j], g.idx[j] = p.key, p.lat, p.lng, p.i
		g.cos[j] = math.Cos(p.lat * math.Pi / 180)
	}
	g.setRows()
	return g
}

// setRows sets where each row of cells starts in keys. A query searches
// only its rows' parts of keys: at 540,000 outlets a search over all of it
// is a dozen cache misses per row.
func (g *grid) setRows() {
	g.rows = make([]int32, g.nrow+1)
	j := 0
	for r := range g.nrow + 1 {
		for j < len(g.keys) && int(g.keys[j]) < r*g.cols {
			j++
		}
		g.rows[r] = int32(j)
	}
}

// Haversine returns the great-circle distance in metres.
func Haversine(lat1, lng1, lat2, lng2 float64) float64 {
	const rad = math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLng := (lng2 - lng1) * rad
	s1 := math.Sin(dLat / 2)
	s2 := math.Sin(dLng / 2)
	h := s1*s1 + math.Cos(lat1*rad)*math.Cos(lat2*rad)*s2*s2
	return 2 * earthR * math.Asin(math.Sqrt(min(h, 1)))
}

// Hit is one result of a radius query.
type Hit struct {
	Pos int32   // position in code order
	h   float64 // haversine of the central angle: orders like the distance
}

// Dist is the great-circle distance in metres. It is computed on demand
// because the v1 answer needs only the order, and asin is a third of the
// cost of a query.
func (h Hit) Dist() float64 { return 2 * earthR * math.Asin(math.Sqrt(min(h.h, 1))) }

// near appends to buf the points within m metres of (lat, lng), nearest
// first (ties by code order, so the order is deterministic).
func (g *grid) near(lat, lng, m float64, buf []Hit) []Hit {
	if m <= 0 || math.IsNaN(lat) || math.IsNaN(lng) {
		return buf
	}
	// Bounding box, slightly widened so that rounding never loses a point at
	// the edge; the exact test is the haversine distance below.
	dLat := m/mPerDegLat*1.001 + 1e-9
	maxAbsLat := min(math.Abs(lat)+dLat, 89)
	dLng := m/(mPerDegLat*math.Cos(maxAbsLat*math.Pi/180))*1.001 + 1e-9
	r0, c0 := int((lat-dLat-gridLat0)/g.cell), int((lng-dLng-gridLng0)/g.cell)
	r1, c1 := int((lat+dLat-gridLat0)/g.cell), int((lng+dLng-gridLng0)/g.cell)
	r0, c0 = max(r0, 0), max(c0, 0)
	r1, c1 = min(r1, g.nrow-1), min(c1, g.cols-1)
	if lat+dLat < gridLat0 || lng+dLng < gridLng0 {
		return buf
	}
	start := len(buf)
	minLat, maxLat, minLng, maxLng := lat-dLat, lat+dLat, lng-dLng, lng+dLng
	// Compare haversines rather than distances: h ≤ sin²(m/2R) is exactly
	// d ≤ m, and needs no asin per candidate.
	const rad = math.Pi / 180
	cq := math.Cos(lat * rad)
	sm := math.Sin(min(m/(2*earthR), math.Pi/2))
	hMax := sm * sm
	for r := r0; r <= r1; r++ {
		lo := uint32(r*g.cols + c0)
		hi := uint32(r*g.cols + c1)
		row := g.keys[g.rows[r]:g.rows[r+1]]
		j, _ := slices.BinarySearch(row, lo)
		j += int(g.rows[r])
		for ; j < len(g.keys) && g.keys[j] <= hi; j++ {
			plat, plng := g.lat[j], g.lng[j]
			if plat < minLat || plat > maxLat || plng < minLng || plng > maxLng {
				continue
			}
			s1 := math.Sin((plat - lat) * rad / 2)
			s2 := math.Sin((plng - lng) * rad / 2)
			if h := s1*s1 + cq*g.cos[j]*s2*s2; h <= hMax {
				buf = append(buf, Hit{Pos: g.idx[j], h: h})
			}
		}
	}
	res := buf[start:]
	slices.SortFunc(res, func(a, b Hit) int {
		switch {
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return int(a.Pos - b.Pos)
	})
	return buf
}

// Gather appends the entries of hits to out and returns them with the
// size of their v1 records. It is a separate pass so that the look-ups of
// all hits overlap (memory-level parallelism): at 540,000 outlets nearly
// every chunk and entry a hit reads is a cache miss, and an encoding loop
// that follows each look-up by a record's copy waits for them one by one.
// For the same reason it reads the records' text ahead (touchRecords).
func (s *Snapshot) Gather(hits []Hit, out []*Entry) ([]*Entry, int) {
	for _, h := range hits {
		out = append(out, s.At(int(h.Pos)))
	}
	size := 0
	for _, e := range out {
		size += len(e.reg) + v1TailMax
	}
	if gatherTouch {
		touchRecords(out[len(out)-len(hits):][:min(len(hits), touchAhead)])
	}
	return out, size
}

// gatherTouch switches touchRecords on (a variable for the benchmarks'
// pairs).
var gatherTouch = true

// touchAhead bounds the records touchRecords reads ahead: 64 records' ~250
// lines stay in the first-level cache (48 KiB here) until they are copied,
// a large answer's thousands would not (its copying costs far more than
// its misses anyway).
const touchAhead = 64

// touchRecords reads one byte of every cache line of each entry's v1
// record: its registry text and its encoded times (an entry not aligned
// to a cache line has them on its second). The loads are independent of
// each other, so the processor has many of the misses in flight at once;
// the encoding then copies from the cache. Without it the copies
// (memmove, one record after another) meet the misses of the text a few
// at a time: at 540,000 outlets the text of an answer's ~27 records (3–4
// lines each) is nearly all outside the cache.
func touchRecords(es []*Entry) {
	var x byte
	for _, e := range es {
		r := e.reg
		for k := 0; k < len(r); k += 64 {
			x ^= r[k]
		}
		if len(r) > 0 {
			x ^= r[len(r)-1]
		}
		x ^= e.v1[1][v1TimeLen-1] ^ e.stat
	}
	runtime.KeepAlive(x)
}
