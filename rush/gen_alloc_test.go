package rush

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// randomIDConcat is RandomID as it was before it appended in place: the
// oracle for the same draws making the same ID.
func randomIDConcat(rng *rand.Rand, year int) string {
	start := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
	days := start.AddDate(1, 0, 0).Sub(start).Hours() / 24
	d := start.AddDate(0, 0, rng.IntN(int(days)))
	sex := 1 + rng.IntN(2)
	if year >= 2000 {
		sex += 2
	}
	b := make([]byte, 0, 13)
	b = append(b, d.Format("060102")...)
	b = append(b, byte('0'+sex))
	serial := strconv.Itoa(10000 + rng.IntN(90000))
	b = append(b, serial...)
	b = append(b, byte('0'+CheckDigit(string(b))))
	return string(b)
}

// RandomID makes the IDs it made when it concatenated strings, from the
// same draws, for every year it is asked for; and the draws after it are
// the same (it takes as many).
func TestRandomIDAsConcat(t *testing.T) {
	a, b := rand.New(rand.NewPCG(3, 4)), rand.New(rand.NewPCG(3, 4))
	for i := range 200_000 {
		year := 1900 + i%200
		if got, want := RandomID(a, year), randomIDConcat(b, year); got != want {
			t.Fatalf("year %d: %s, before %s", year, got, want)
		}
	}
	if a.Uint64() != b.Uint64() {
		t.Fatal("the draws after differ")
	}
}

// The read paths are the strings the concatenations made.
func TestReadPathsAsConcat(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	coords := []float64{0, math.Copysign(0, -1), 37.5665, 126.978, -33.8688, 1e-7, -1e-7, 0.0000005, 0.0000015, 89.9999995, -179.9999996, 123456.789, 1e12, math.Inf(1), math.NaN()}
	for range 2000 {
		coords = append(coords, 33+rng.Float64()*6, 124+rng.Float64()*8, (rng.Float64()-0.5)*400)
	}
	for i, lat := range coords {
		lng := coords[(i*7+3)%len(coords)]
		m := []int{500, 1000, 2000, 3000, 5000, 0, -1, 123456789}[i%8]
		if got, want := geoPath(lat, lng, m), "/corona19-masks/v1/storesByGeo/json?lat="+fmtCoord(lat)+"&lng="+fmtCoord(lng)+"&m="+strconv.Itoa(m); got != want {
			t.Errorf("geoPath %v %v %d: %s, want %s", lat, lng, m, got, want)
		}
		if got, want := nearPath(lat, lng), "/api/v2/outlets/near?lat="+fmtCoord(lat)+"&lng="+fmtCoord(lng)+"&m=1000&limit=50"; got != want {
			t.Errorf("nearPath %v %v: %s, want %s", lat, lng, got, want)
		}
	}
}

// Each draw makes its string in one allocation, and a receipt as the
// server writes it is read with three (the sale ID, the items, and the
// fixed zone time.Parse makes for sold_at's +09:00): the generator makes
// these for every request on the server's cores. At most: a later
// compiler that needs fewer is no failure.
func TestDrawAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := []byte(receipts[0])
	for name, c := range map[string]struct {
		f    func()
		want float64
	}{
		"RandomID": {func() { _ = RandomID(rng, 1983) }, 1},
		"geoPath":  {func() { _ = geoPath(37.5665, 126.978, 1000) }, 1},
		"nearPath": {func() { _ = nearPath(37.5665, 126.978) }, 1},
		"parseReceipt": {func() {
			var r receipt
			if parseReceipt(b, &r) != nil || r.Items[0].Role != "buyer" {
				t.Fatal("receipt not read")
			}
		}, 3},
	} {
		if got := testing.AllocsPerRun(200, c.f); got > c.want {
			t.Errorf("%s: %.1f allocations, want %.0f", name, got, c.want)
		}
	}
}
