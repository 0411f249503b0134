package seed

import (
	"encoding/csv"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/publicmask/publicmask/internal/testdata"
	"github.com/publicmask/publicmask/snapshot"
)

// refDir holds the shared reference data (never copied into the repo).

// openRef opens a reference file, skipping the test when it is missing, or
// failing under CI where the data must be present.
func openRef(t testing.TB, rel string) *os.File {
	t.Helper()
	f, err := os.Open(testdata.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// readTable reads a header-keyed CSV into maps.
func readTable(t testing.TB, r io.Reader) []map[string]string {
	t.Helper()
	recs, err := csv.NewReader(r).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = rec[i]
		}
		out = append(out, m)
	}
	return out
}

// distKm is the great-circle distance in kilometres.
func distKm(lat1, lng1, lat2, lng2 float64) float64 {
	return snapshot.Haversine(lat1, lng1, lat2, lng2) / 1000
}

func atof(t testing.TB, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestBuiltinAgainstReference checks the hand-written table against the
// 2020 reference geography: names exist, centres within 15 km of the
// representative point, 시도 populations within 10%.
func TestBuiltinAgainstReference(t *testing.T) {
	sgg := readTable(t, openRef(t, "geo/sgg_2020.csv"))
	sd := readTable(t, openRef(t, "geo/sido_2020.csv"))
	real := map[string]map[string]string{}
	for _, r := range sgg {
		real[r["sido_nm"]+"|"+strings.ReplaceAll(r["sgg_nm"], " ", "")] = r
	}
	popBySido := map[string]int{}
	for _, a := range BuiltinAreas() {
		popBySido[a.Sido] += a.Population
		r, ok := real[a.Sido+"|"+strings.ReplaceAll(a.Sigungu, " ", "")]
		if !ok {
			t.Errorf("built-in %s %s is not a 2020 시군구", a.Sido, a.Sigungu)
			continue
		}
		if d := distKm(a.Lat, a.Lng, atof(t, r["mdis_lat"]), atof(t, r["mdis_lng"])); d > 15 {
			t.Errorf("%s %s: centre %.1f km from the reference point", a.Sido, a.Sigungu, d)
		}
	}
	if n := len(BuiltinAreas()); n != len(sgg) {
		t.Logf("built-in table has %d of the %d 시군구", n, len(sgg))
	}
	checked := 0
	for _, r := range sd {
		if r["pop_2020_census_kostat"] == "" {
			continue // the file's trailer row of unresolved addresses
		}
		checked++
		want := atof(t, r["pop_2020_census_kostat"])
		s, ok := findSido(r["sido_nm"])
		if !ok {
			t.Errorf("시도 %s missing from the built-in table", r["sido_nm"])
			continue
		}
		if e := math.Abs(float64(s.Population)-want) / want; e > 0.10 {
			t.Errorf("%s: table population %d vs %0.f (%.0f%% off)", s.Name, s.Population, want, 100*e)
		}
		got := float64(popBySido[s.Name])
		if e := math.Abs(got-want) / want; e > 0.10 {
			t.Errorf("%s: 시군구 populations sum to %.0f vs %.0f (%.0f%% off)", s.Name, got, want, 100*e)
		}
	}
	if checked != len(sidos) {
		t.Errorf("checked %d 시도, the table has %d", checked, len(sidos))
	}
}
