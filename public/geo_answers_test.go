package public

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/seed"
)

// TestStoresByGeoAnswersUnchanged pins the v1 storesByGeo answers over
// generated registries, stocked after the start through the refresher (as
// a live server's opening deliveries stock them), to the digest of the
// answers main gave before the geo index's read ahead (geo21): a change of
// the read model's layout must leave every answer byte-identical. The
// sizes cross the grid's subdivisions (1 at the national size, 4 beyond
// about 210,000); the larger one is skipped with -short.
func TestStoresByGeoAnswersUnchanged(t *testing.T) {
	for _, c := range []struct {
		n   int
		sum string
	}{
		{26_263, "6f13e0c8088279fbb22f388179c8b4580a42412fb4679c7da7111043e90658ba"},
		{230_000, "ef2cbd18410c5c07bac43210962c53d995701124bd5f60ba4bd08cfd6711c7c3"},
	} {
		t.Run(fmt.Sprintf("outlets=%d", c.n), func(t *testing.T) {
			if testing.Short() && c.n > 30_000 {
				t.Skip("large registry")
			}
			if got := geoAnswersDigest(t, c.n); got != c.sum {
				t.Fatalf("answers' digest %s, main's %s", got, c.sum)
			}
		})
	}
}

// geoAnswersDigest serves n generated outlets, delivers stock to all but
// every 17th in lists of 50,000 in code order, and returns the SHA-256 of
// the storesByGeo answers at 400 points (central Seoul and the whole
// country) and several radii.
func geoAnswersDigest(t *testing.T, n int) string {
	outlets := seed.Outlets(seed.Options{Seed: 2020, Count: n})
	env := newEnv(t, outlets, Options{})
	slices.SortFunc(outlets, func(a, b publicmask.Outlet) int { return strings.Compare(a.Code, b.Code) })
	at := time.Date(2020, 3, 11, 8, 0, 0, 0, time.UTC)
	for start := 0; start < n; start += 50_000 {
		var list []publicmask.Outlet
		for i := start; i < min(start+50_000, n); i++ {
			if i%17 == 0 {
				continue
			}
			o := outlets[i]
			o.Stock, o.Sold = (i*37)%250, i%7
			o.StockAt, o.UpdatedAt = at.Add(time.Duration(i%600)*time.Second), at.Add(time.Duration(i%900)*time.Second)
			list = append(list, env.src.put(o))
		}
		env.r.Notify(list)
		last := list[len(list)-1].Version
		for deadline := time.Now().Add(2 * time.Minute); env.r.Current().Version() < last; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("a delivery list not applied in 2 minutes")
			}
		}
	}
	rng := rand.New(rand.NewPCG(21, 21))
	h := sha256.New()
	for k := range 400 {
		lat, lng := 37.50+rng.Float64()*0.10, 126.92+rng.Float64()*0.14
		if k%4 == 3 {
			lat, lng = 33.2+rng.Float64()*5, 126+rng.Float64()*3.5
		}
		m := []int{10, 120, 233, 500, 1000, 3000}[k%6]
		res := env.get(t, fmt.Sprintf("/corona19-masks/v1/storesByGeo/json?lat=%.5f&lng=%.5f&m=%d", lat, lng, m))
		if res.code != 200 {
			t.Fatalf("%d %s", res.code, res.body)
		}
		h.Write(res.body)
	}
	return hex.EncodeToString(h.Sum(nil))
}
