package rush

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testdata"
	"github.com/publicmask/publicmask/public"
	"github.com/publicmask/publicmask/snapshot"
)

type listSource []publicmask.Outlet

func (l listSource) Outlets(context.Context) ([]publicmask.Outlet, int64, error) { return l, 1, nil }
func (l listSource) OutletChanges(context.Context, int64, int) ([]publicmask.Outlet, error) {
	return nil, nil
}

// TestAddrQueriesNational: the rush's storesByAddr queries, drawn from every
// address of the April 2020 list, are all answered 200 by the public API,
// each with at least the outlet it was drawn from.
func TestAddrQueriesNational(t *testing.T) {
	rows := testdata.CSV(t, testdata.Path(t, "outlets-2020/stores-2020-04.csv"))
	var outlets []publicmask.Outlet
	for _, r := range rows[1:] {
		lat, _ := strconv.ParseFloat(r[4], 64)
		lng, _ := strconv.ParseFloat(r[5], 64)
		outlets = append(outlets, publicmask.Outlet{Code: r[0], Name: r[1], Addr: r[2], Type: r[3], Lat: lat, Lng: lng, Version: 1})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ref := snapshot.NewRefresher(listSource(outlets), snapshot.Options{})
	if err := ref.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h := public.NewHandler(ref, public.Options{})
	seen := map[string]bool{}
	bad := 0
	for seed := range uint64(3) {
		qs := addrQueries(outlets, rand.New(rand.NewPCG(seed, 2020)))
		if len(qs) < len(outlets)*9/10 {
			t.Fatalf("%d queries from %d outlets", len(qs), len(outlets))
		}
		for _, q := range qs {
			if seen[q] {
				continue
			}
			seen[q] = true
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/corona19-masks/v1/storesByAddr/json?address="+url.QueryEscape(q), nil))
			var body struct{ Count int }
			json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != 200 || body.Count == 0 {
				bad++
				if bad <= 20 {
					t.Errorf("%q: %d, %d outlets: %.200s", q, w.Code, body.Count, w.Body.Bytes())
				}
			}
		}
	}
	t.Logf("%d distinct queries, %d not answered with outlets", len(seen), bad)
}
