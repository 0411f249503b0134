package public

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/snapshot"
)

type forecastJSON struct {
	SalesPerHour float64 `json:"sales_per_hour"`
	SelloutAt    *string `json:"sellout_at"`
}

// The forecast rides on every v2 outlet object (near, outlets/{code}, the
// stream), follows the change feed, and leaves v1 exactly as it was.
func TestForecastOnV2NotV1(t *testing.T) {
	t0 := time.Date(2020, 3, 11, 8, 0, 0, 0, publicmask.Seoul)
	sell := publicmask.Outlet{Code: "10000001", Name: "가약국", Addr: "서울특별시 강북구 솔매로 38 (미아동)", Type: "01",
		Lat: 37.6254369, Lng: 127.0164096, Stock: 300, StockAt: t0, UpdatedAt: t0}
	env := newEnv(t, []publicmask.Outlet{sell}, Options{Heartbeat: time.Hour})
	srv := httptest.NewServer(env.h)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v2/stream?lat=%v&lng=%v&m=100", srv.URL, sell.Lat, sell.Lng), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := &sseReader{bufio.NewScanner(resp.Body)}
	if name, _, err := rd.next(); err != nil || name != ":" {
		t.Fatalf("opening comment: %q %v", name, err)
	}

	// Two masks every 30 s for ten minutes: 240 an hour.
	o := env.src.get(sell.Code)
	at := t0
	for range 20 {
		at = at.Add(30 * time.Second)
		o.Stock, o.Sold, o.UpdatedAt = o.Stock-2, o.Sold+2, at
		o = env.src.put(o)
		env.r.Notify([]publicmask.Outlet{o})
		waitFor(t, "sale applied", func() bool { return env.r.Current().Version() == o.Version })
	}
	var one struct {
		Forecast forecastJSON `json:"forecast"`
	}
	env.get(t, "/api/v2/outlets/"+sell.Code).json(t, &one)
	f := one.Forecast
	if f.SalesPerHour < 220 || f.SalesPerHour > 260 || f.SelloutAt == nil {
		t.Fatalf("forecast %+v, want about 240/h with a sellout time", f)
	}
	// 260 left at 240/h: about 65 minutes after the last sale.
	got, err := time.Parse(time.RFC3339, *f.SelloutAt)
	if err != nil || got.Sub(at) < 58*time.Minute || got.Sub(at) > 72*time.Minute {
		t.Fatalf("sellout_at %v (%v), want about 65 min after %v", got, err, at)
	}
	var near struct {
		Outlets []struct {
			Code     string
			Forecast *forecastJSON `json:"forecast"`
		}
	}
	env.get(t, fmt.Sprintf("/api/v2/outlets/near?lat=%v&lng=%v&m=100", sell.Lat, sell.Lng)).json(t, &near)
	if len(near.Outlets) != 1 || near.Outlets[0].Forecast == nil || *near.Outlets[0].Forecast.SelloutAt != *f.SelloutAt {
		t.Fatalf("near: %+v", near)
	}
	// The stream carried the forecast with the change.
	var last forecastJSON
	for range 20 {
		name, data, err := rd.next()
		if err != nil {
			t.Fatal(err)
		}
		if name != "outlet" {
			continue
		}
		var ev struct {
			Forecast forecastJSON `json:"forecast"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatal(err)
		}
		last = ev.Forecast
	}
	if last.SelloutAt == nil || *last.SelloutAt != *f.SelloutAt {
		t.Fatalf("last stream event forecast %+v, want %v", last, *f.SelloutAt)
	}

	// v1 keeps its nine fields.
	var v1 struct{ Stores []map[string]json.RawMessage }
	env.get(t, fmt.Sprintf("/corona19-masks/v1/storesByGeo/json?lat=%v&lng=%v&m=100", sell.Lat, sell.Lng)).json(t, &v1)
	want := []string{"addr", "code", "created_at", "lat", "lng", "name", "remain_stat", "stock_at", "type"}
	if len(v1.Stores) != 1 || !slices.Equal(sortedKeys(v1.Stores[0]), want) {
		t.Fatalf("v1 record: %v", v1.Stores)
	}

	// Suspended: a rate, no sellout.
	o.Suspended, o.UpdatedAt = true, at.Add(time.Second)
	o = env.src.put(o)
	env.r.Notify([]publicmask.Outlet{o})
	waitFor(t, "suspension applied", func() bool { return env.r.Current().Version() == o.Version })
	env.get(t, "/api/v2/outlets/"+sell.Code).json(t, &one)
	if one.Forecast.SelloutAt != nil {
		t.Fatalf("suspended outlet has sellout_at %v", *one.Forecast.SelloutAt)
	}
}

// The summary's additive fields for /overview: per-시군구 counts and masks
// sold per 10 minutes, following the change feed.
func TestSummarySigunguAndSales(t *testing.T) {
	env, _ := gangbukEnv(t, Options{})
	var sum struct {
		National snapshot.StatCounts
		Sigungu  []snapshot.SigunguCounts
		Sales    struct {
			Date   string
			Counts []int
		} `json:"sales_per_10min"`
	}
	env.get(t, "/api/v2/summary").json(t, &sum)
	if len(sum.Sigungu) == 0 {
		t.Fatal("no 시군구")
	}
	total := 0
	for _, c := range sum.Sigungu {
		total += c.Total
		if c.Sido != "서울특별시" || c.Lat < 37 || c.Lat > 38 || c.Total != c.Plenty+c.Some+c.Few+c.Empty+c.Break+c.Unstocked {
			t.Fatalf("row %+v", c)
		}
	}
	if total != sum.National.Total {
		t.Fatalf("시군구 rows add up to %d, national %d", total, sum.National.Total)
	}
	i := slices.IndexFunc(sum.Sigungu, func(c snapshot.SigunguCounts) bool { return c.Sigungu == "강북구" })
	if i < 0 {
		t.Fatalf("강북구 missing: %+v", sum.Sigungu)
	}
	before := sum.Sigungu[i]

	// A sale of 7 masks at a 강북구 outlet that was plenty and is now few.
	o := env.src.get("11817488")
	now := time.Now()
	o.Stock, o.Sold, o.UpdatedAt = 20, o.Sold+7, now
	o = env.src.put(o)
	env.r.Notify([]publicmask.Outlet{o})
	waitFor(t, "sale applied", func() bool { return env.r.Current().Version() == o.Version })
	env.get(t, "/api/v2/summary").json(t, &sum)
	after := sum.Sigungu[i]
	if after.Plenty != before.Plenty-1 || after.Few != before.Few+1 {
		t.Fatalf("강북구 before %+v after %+v", before, after)
	}
	day, bin := now.In(publicmask.Seoul).Format("2006-01-02"), now.In(publicmask.Seoul).Hour()*6+now.In(publicmask.Seoul).Minute()/10
	if sum.Sales.Date != day || len(sum.Sales.Counts) < bin+1 || sum.Sales.Counts[bin] != 7 {
		t.Fatalf("sales %+v, want 7 in bin %d of %s", sum.Sales, bin, day)
	}
}
