// Command gensido derives the /overview page's outline of the 17 시도 from
// the shared KOSTAT/SGIS boundaries (provinces_2018.geojson, KOGL type 1):
// Douglas–Peucker simplification, coordinates rounded to 0.001° (about
// 100 m), islands below a minimum area dropped, so that the embedded file
// stays under 150 KB. Only its output is committed; run it through
// `go generate ./web` when the source changes.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"strconv"
)

type feature struct {
	Properties struct {
		Name    string `json:"name"`
		NameEng string `json:"name_eng"`
		Code    string `json:"code"`
	} `json:"properties"`
	Geometry struct {
		Type        string          `json:"type"`
		Coordinates json.RawMessage `json:"coordinates"`
	} `json:"geometry"`
}

type pt [2]float64

func main() {
	in := flag.String("in", "../../shared/data/geo/provinces_2018.geojson", "source GeoJSON")
	out := flag.String("out", "static/geo/sido.json", "output")
	tol := flag.Float64("tolerance", 0.004, "simplification tolerance in degrees")
	minArea := flag.Float64("min-area", 0.0015, "smallest island kept, in square degrees")
	max := flag.Int("max-bytes", 150_000, "fail above this size")
	flag.Parse()
	raw, err := os.ReadFile(*in)
	if err != nil {
		log.Fatal(err)
	}
	var fc struct {
		Features []feature `json:"features"`
	}
	if err := json.Unmarshal(raw, &fc); err != nil {
		log.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString(`{"type":"FeatureCollection","attribution":"KOSTAT/SGIS, KOGL type 1 (simplified)","features":[`)
	for i, f := range fc.Features {
		var polys [][][]pt
		switch f.Geometry.Type {
		case "Polygon":
			var p [][]pt
			if err := json.Unmarshal(f.Geometry.Coordinates, &p); err != nil {
				log.Fatal(err)
			}
			polys = [][][]pt{p}
		case "MultiPolygon":
			if err := json.Unmarshal(f.Geometry.Coordinates, &polys); err != nil {
				log.Fatal(err)
			}
		default:
			log.Fatalf("%s: geometry %s", f.Properties.Name, f.Geometry.Type)
		}
		var kept [][][]pt
		largest, largestArea := -1, 0.0
		for j, p := range polys {
			if a := math.Abs(area(p[0])); a > largestArea {
				largest, largestArea = j, a
			}
		}
		for j, p := range polys {
			if j != largest && math.Abs(area(p[0])) < *minArea {
				continue
			}
			ring := round(simplify(p[0], *tol)) // holes are dropped: none matter at this scale
			if len(ring) >= 4 {
				kept = append(kept, [][]pt{ring})
			}
		}
		if i > 0 {
			b.WriteByte(',')
		}
		props, _ := json.Marshal(map[string]string{"name": f.Properties.Name, "name_eng": f.Properties.NameEng, "code": f.Properties.Code})
		fmt.Fprintf(&b, `{"type":"Feature","properties":%s,"geometry":{"type":"MultiPolygon","coordinates":[`, props)
		for k, poly := range kept {
			if k > 0 {
				b.WriteByte(',')
			}
			b.WriteString("[[")
			for m, q := range poly[0] {
				if m > 0 {
					b.WriteByte(',')
				}
				b.WriteString("[" + strconv.FormatFloat(q[0], 'f', -1, 64) + "," + strconv.FormatFloat(q[1], 'f', -1, 64) + "]")
			}
			b.WriteString("]]")
		}
		b.WriteString("]}}")
	}
	b.WriteString("]}\n")
	if b.Len() > *max {
		log.Fatalf("%d bytes, above %d: raise -tolerance or -min-area", b.Len(), *max)
	}
	if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("gensido: %d features, %d bytes\n", len(fc.Features), b.Len())
}

func area(r []pt) float64 {
	s := 0.0
	for i := range r {
		j := (i + 1) % len(r)
		s += r[i][0]*r[j][1] - r[j][0]*r[i][1]
	}
	return s / 2
}

func round(r []pt) []pt {
	out := make([]pt, 0, len(r))
	for _, p := range r {
		q := pt{math.Round(p[0]*1000) / 1000, math.Round(p[1]*1000) / 1000}
		if len(out) == 0 || out[len(out)-1] != q {
			out = append(out, q)
		}
	}
	if len(out) > 0 && out[0] != out[len(out)-1] {
		out = append(out, out[0])
	}
	return out
}

// simplify is Douglas–Peucker on a closed ring.
func simplify(r []pt, tol float64) []pt {
	if len(r) < 4 {
		return r
	}
	keep := make([]bool, len(r))
	keep[0], keep[len(r)-1] = true, true
	// A closed ring: split at the point farthest from the first.
	far, fd := 0, 0.0
	for i, p := range r {
		if d := math.Hypot(p[0]-r[0][0], p[1]-r[0][1]); d > fd {
			far, fd = i, d
		}
	}
	keep[far] = true
	dp(r, 0, far, tol, keep)
	dp(r, far, len(r)-1, tol, keep)
	var out []pt
	for i, k := range keep {
		if k {
			out = append(out, r[i])
		}
	}
	return out
}

func dp(r []pt, a, b int, tol float64, keep []bool) {
	if b <= a+1 {
		return
	}
	idx, dmax := -1, tol
	for i := a + 1; i < b; i++ {
		if d := segDist(r[i], r[a], r[b]); d > dmax {
			idx, dmax = i, d
		}
	}
	if idx < 0 {
		return
	}
	keep[idx] = true
	dp(r, a, idx, tol, keep)
	dp(r, idx, b, tol, keep)
}

func segDist(p, a, b pt) float64 {
	dx, dy := b[0]-a[0], b[1]-a[1]
	if dx == 0 && dy == 0 {
		return math.Hypot(p[0]-a[0], p[1]-a[1])
	}
	t := ((p[0]-a[0])*dx + (p[1]-a[1])*dy) / (dx*dx + dy*dy)
	t = math.Max(0, math.Min(1, t))
	return math.Hypot(p[0]-a[0]-t*dx, p[1]-a[1]-t*dy)
}
