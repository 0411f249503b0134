package snapshot

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"syscall"
	"testing"
)

// An upper bound for v1 records pre-encoded in the grid's order (one byte
// run per grid position): an answer copies its records from the runs
// without reading the code-ordered tree, the entries or their text. Not
// built: what the records cost to keep current is not measured here.
type gridRuns struct {
	runs []byte
	off  []uint32
	ents []*Entry // the entry each run was encoded from (runs+at)
}

var runsMu sync.Mutex
var runsCache = map[int]*gridRuns{}

func runsOf(s *Snapshot, n int) *gridRuns {
	runsMu.Lock()
	defer runsMu.Unlock()
	if r, ok := runsCache[n]; ok {
		return r
	}
	g := s.reg.geo
	r := &gridRuns{off: make([]uint32, len(g.idx)+1), ents: make([]*Entry, len(g.idx))}
	for j, i := range g.idx {
		r.ents[j] = s.At(int(i))
		r.runs = r.ents[j].AppendV1(r.runs)
		r.off[j+1] = uint32(len(r.runs))
	}
	runsCache[n] = r
	return r
}

// nearGrid is grid.near with Pos the grid position instead of the code one.
func nearGrid(g *grid, lat, lng, m float64, buf []Hit) []Hit {
	dLat := m/mPerDegLat*1.001 + 1e-9
	maxAbsLat := min(math.Abs(lat)+dLat, 89)
	dLng := m/(mPerDegLat*math.Cos(maxAbsLat*math.Pi/180))*1.001 + 1e-9
	r0, c0 := int((lat-dLat-gridLat0)/g.cell), int((lng-dLng-gridLng0)/g.cell)
	r1, c1 := int((lat+dLat-gridLat0)/g.cell), int((lng+dLng-gridLng0)/g.cell)
	r0, c0 = max(r0, 0), max(c0, 0)
	r1, c1 = min(r1, g.nrow-1), min(c1, g.cols-1)
	start := len(buf)
	minLat, maxLat, minLng, maxLng := lat-dLat, lat+dLat, lng-dLng, lng+dLng
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
				buf = append(buf, Hit{Pos: int32(j), h: h})
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

// BenchmarkRunsAB: main's answer core (Near, Gather with touch, AppendV1)
// against copying pre-encoded runs (runs; runs+at checks each run against
// the entry the code-ordered tree holds, as a cache validated by the
// entry's pointer would) and against Near alone (near),
// both sizes, rounds alternated as in BenchmarkDeliveredAB, with a system
// call between answers in every variant.
//
//	go test -c ./snapshot && ./snapshot.test -test.run '^$' -test.bench RunsAB -test.benchtime 4000x
func BenchmarkRunsAB(b *testing.B) {
	abSysCall = true
	defer func() { abSysCall = false }()
	for round := range abRounds {
		for _, v := range []string{"main", "runs", "runs+at", "near"} {
			for _, n := range []int{26_263, 540_000} {
				b.Run(fmt.Sprintf("round=%d/v=%s/outlets=%d", round, v, n), func(b *testing.B) {
					s := delivered(n)
					switch v {
					case "main":
						answerCore(b, s, n)
					case "runs":
						answerRuns(b, s, runsOf(s, n), n, true, false)
					case "runs+at":
						answerRuns(b, s, runsOf(s, n), n, true, true)
					case "near":
						answerRuns(b, s, nil, n, false, false)
					}
				})
			}
		}
	}
}

// answerRuns is answerCore over pre-encoded runs (copy false: Near alone,
// with code positions).
func answerRuns(b *testing.B, s *Snapshot, r *gridRuns, n int, copy, at bool) {
	m, pts := answerPoints(n)
	g := s.reg.geo
	var hits []Hit
	var buf []byte
	b.ResetTimer()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		p := pts[i%len(pts)]
		if !copy {
			hits = s.Near(p.lat, p.lng, m, hits[:0])
		} else {
			hits = nearGrid(g, p.lat, p.lng, m, hits[:0])
			size := 0
			for _, h := range hits {
				size += int(r.off[h.Pos+1] - r.off[h.Pos])
			}
			buf = slices.Grow(buf[:0], size)
			for _, h := range hits {
				if at && s.At(int(g.idx[h.Pos])) != r.ents[h.Pos] {
					buf = r.ents[h.Pos].AppendV1(buf) // never: the runs are current
					continue
				}
				buf = append(buf, r.runs[r.off[h.Pos]:r.off[h.Pos+1]]...)
			}
		}
		i++
		syscall.Getppid()
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}
