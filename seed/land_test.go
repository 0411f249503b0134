package seed

import (
	"encoding/json"
	"strings"
	"testing"
)

// provinces reads the simplified 2018 outlines of the 17 시도.
func provinces(t testing.TB) map[string][][][][2]float64 {
	var fc struct {
		Features []struct {
			Properties struct{ Name string }
			Geometry   struct {
				Type        string
				Coordinates json.RawMessage
			}
		}
	}
	if err := json.NewDecoder(openRef(t, "geo/provinces_2018.geojson")).Decode(&fc); err != nil {
		t.Fatal(err)
	}
	out := map[string][][][][2]float64{}
	for _, f := range fc.Features {
		var polys [][][][2]float64
		switch f.Geometry.Type {
		case "Polygon":
			var p [][][2]float64
			if err := json.Unmarshal(f.Geometry.Coordinates, &p); err != nil {
				t.Fatal(err)
			}
			polys = [][][][2]float64{p}
		case "MultiPolygon":
			if err := json.Unmarshal(f.Geometry.Coordinates, &polys); err != nil {
				t.Fatal(err)
			}
		}
		out[f.Properties.Name] = polys
	}
	return out
}

// inside is even-odd ray casting over all rings (holes included).
func inside(polys [][][][2]float64, lat, lng float64) bool {
	in := false
	for _, p := range polys {
		for _, ring := range p {
			for i, j := 0, len(ring)-1; i < len(ring); j, i = i, i+1 {
				xi, yi, xj, yj := ring[i][0], ring[i][1], ring[j][0], ring[j][1]
				if (yi > lat) != (yj > lat) && lng < (xj-xi)*(lat-yi)/(yj-yi)+xi {
					in = !in
				}
			}
		}
	}
	return in
}

// missingIslands are land that the simplified outline leaves out.
var missingIslands = map[string]bool{"부산광역시 영도구": true}

// TestOnLand checks that outlets fall inside their own 시도 on the map,
// which catches centres in the sea or across a border. The outlines are
// simplified, so a few points on a ragged coast may fall just outside.
func TestOnLand(t *testing.T) {
	prov := provinces(t)
	out, idx := generate(Options{Seed: 11})
	areas := builtin()
	sea, across := map[string]int{}, map[string]int{}
	nSea, nAcross := 0, 0
	for i, o := range out {
		s, _, _ := strings.Cut(o.Addr, " ")
		if inside(prov[s], o.Lat, o.Lng) {
			continue
		}
		key := areas[idx[i]].Sido + " " + areas[idx[i]].Sigungu
		if missingIslands[key] {
			continue
		}
		onLand := false
		for _, p := range prov {
			if inside(p, o.Lat, o.Lng) {
				onLand = true
				break
			}
		}
		if onLand {
			across[key]++
			nAcross++
		} else {
			sea[key]++
			nSea++
		}
	}
	for k, n := range sea {
		t.Logf("%s: %d outlets off the coast outline", k, n)
	}
	for k, n := range across {
		t.Logf("%s: %d outlets across the 시도 border", k, n)
	}
	// Thresholds: the outlines are simplified (coasts cut corners), and a
	// 시 next to Seoul spills a little over the border, as real towns do.
	if frac := float64(nSea) / float64(len(out)); frac > 0.003 {
		t.Errorf("%d of %d outlets (%.2f%%) are off the coast", nSea, len(out), 100*frac)
	}
	if frac := float64(nAcross) / float64(len(out)); frac > 0.005 {
		t.Errorf("%d of %d outlets (%.2f%%) are across their 시도 border", nAcross, len(out), 100*frac)
	}
}
