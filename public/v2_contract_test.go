package public

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/snapshot"
)

func TestNotifiedChangeVisibleInV1AndV2(t *testing.T) {
	env, _ := gangbukEnv(t, Options{})
	const code = "11817488" // 승약국, plenty in the sample
	o := env.src.get(code)
	if o.RemainStat() != publicmask.StatPlenty {
		t.Fatalf("setup: %s", o.RemainStat())
	}
	o.Stock = 29 // a sale that crosses into "few"
	o.UpdatedAt = time.Now()
	o = env.src.put(o)
	env.r.Notify([]publicmask.Outlet{o})
	waitFor(t, "v1 storesByGeo", func() bool {
		var body struct {
			Stores []struct{ Code, Remain_stat string }
		}
		env.get(t, fmt.Sprintf("/corona19-masks/v1/storesByGeo/json?lat=%v&lng=%v&m=10", o.Lat, o.Lng)).json(t, &body)
		return len(body.Stores) > 0 && body.Stores[0].Code == code && body.Stores[0].Remain_stat == "few"
	})
	var v2 struct {
		RemainStat string `json:"remain_stat"`
		UpdatedAt  string `json:"updated_at"`
	}
	env.get(t, "/api/v2/outlets/"+code).json(t, &v2)
	if v2.RemainStat != "few" {
		t.Fatalf("v2: %+v", v2)
	}
	if ts, err := time.Parse(time.RFC3339, v2.UpdatedAt); err != nil || !ts.Equal(o.UpdatedAt.Truncate(time.Second)) && !ts.Equal(o.UpdatedAt) {
		t.Fatalf("v2 updated_at %q (%v), want %v", v2.UpdatedAt, err, o.UpdatedAt)
	}
	var sales struct {
		Sales []struct{ Code, Remain_stat string }
	}
	env.get(t, "/corona19-masks/v1/sales/json").json(t, &sales)
	if i := slices.IndexFunc(sales.Sales, func(s struct{ Code, Remain_stat string }) bool { return s.Code == code }); i < 0 || sales.Sales[i].Remain_stat != "few" {
		t.Fatalf("sales page not refreshed")
	}
}

func TestV2NearSummaryOutlet(t *testing.T) {
	env, recs := gangbukEnv(t, Options{})
	lat, lng := 37.6359, 127.0253
	var body struct {
		AsOf    string `json:"as_of"`
		Version int64
		Count   int
		Outlets []struct {
			Code       string
			RemainStat *string `json:"remain_stat"`
			StockAt    *string `json:"stock_at"`
			DistanceM  *int    `json:"distance_m"`
		}
	}
	env.get(t, fmt.Sprintf("/api/v2/outlets/near?lat=%v&lng=%v&m=2000&limit=500", lat, lng)).json(t, &body)
	n := 0
	for _, r := range recs {
		if haversine(lat, lng, r.num("lat"), r.num("lng")) <= 2000 {
			n++
		}
	}
	if body.Count != n || len(body.Outlets) != n || body.Version == 0 {
		t.Fatalf("near: %d, want %d", body.Count, n)
	}
	if _, err := time.Parse(time.RFC3339, body.AsOf); err != nil {
		t.Fatalf("as_of %q", body.AsOf)
	}
	prev := -1
	for _, o := range body.Outlets {
		if o.DistanceM == nil || *o.DistanceM < prev {
			t.Fatalf("distance_m missing or not ascending")
		}
		prev = *o.DistanceM
		if o.StockAt != nil {
			if _, err := time.Parse(time.RFC3339, *o.StockAt); err != nil {
				t.Fatalf("stock_at %q not RFC 3339", *o.StockAt)
			}
		}
	}
	env.get(t, fmt.Sprintf("/api/v2/outlets/near?lat=%v&lng=%v&m=2000&limit=3", lat, lng)).json(t, &body)
	if body.Count != 3 || len(body.Outlets) != 3 {
		t.Fatalf("limit 3: %d", body.Count)
	}
	env.get(t, fmt.Sprintf("/api/v2/outlets/near?lat=%v&lng=%v&m=5000&limit=500&status=break,few", lat, lng)).json(t, &body)
	for _, o := range body.Outlets {
		if o.RemainStat == nil || (*o.RemainStat != "break" && *o.RemainStat != "few") {
			t.Fatalf("status filter let through %v", o.RemainStat)
		}
	}
	if body.Count == 0 {
		t.Fatalf("status filter found nothing")
	}
	env.get(t, "/api/v2/outlets/near?lat=37.6&lng=127&status=lots").wantError(t, 400, publicmask.EBadRequest)
	env.get(t, "/api/v2/outlets/near?lat=37.6&lng=127&limit=x").wantError(t, 400, publicmask.EBadRequest)
	env.get(t, "/api/v2/outlets/near?lng=127").wantError(t, 400, publicmask.EBadRequest)
	env.get(t, "/api/v2/outlets/nope").wantError(t, 404, publicmask.ENotFound)
	env.get(t, "/api/v2/nothing").wantError(t, 404, publicmask.ENotFound)

	var one map[string]json.RawMessage
	env.get(t, "/api/v2/outlets/11817488").json(t, &one)
	want := []string{"addr", "code", "forecast", "lat", "lng", "name", "remain_stat", "stock_at", "type", "updated_at"}
	if ks := sortedKeys(one); !slices.Equal(ks, want) {
		t.Fatalf("outlet keys %v", ks)
	}

	var sum struct {
		National snapshot.StatCounts
		Sido     map[string]snapshot.StatCounts
	}
	env.get(t, "/api/v2/summary").json(t, &sum)
	if sum.National.Total != 222 || sum.National.Plenty != 178 || sum.National.Break != 15 || sum.National.Unstocked != 6 ||
		sum.Sido["서울특별시"].Total != 222 || sum.Sido["부산광역시"].Total != 0 {
		t.Fatalf("summary %+v", sum)
	}
}

func TestRules(t *testing.T) {
	var gotDate time.Time
	var gotYear int
	env := newEnv(t, nil, Options{Rules: func(d time.Time, y int) any {
		gotDate, gotYear = d, y
		return map[string]any{"date": d.In(publicmask.Seoul).Format("2006-01-02"), "sales_open": true}
	}})
	res := env.get(t, "/api/v2/rules?date=2020-03-11&birth_year=1983")
	var body map[string]any
	res.json(t, &body)
	if res.code != 200 || body["date"] != "2020-03-11" || gotYear != 1983 || gotDate.In(publicmask.Seoul).Format("2006-01-02") != "2020-03-11" {
		t.Fatalf("rules: %d %s (year %d, date %v)", res.code, res.body, gotYear, gotDate)
	}
	env.get(t, "/api/v2/rules?date=2020-03-11")
	if gotYear != 0 {
		t.Fatalf("birth_year absent → %d, want 0", gotYear)
	}
	for _, q := range []string{"", "date=2020-3-11", "date=2020-02-30", "date=2020-03-11&birth_year=1899",
		"date=2020-03-11&birth_year=2031", "date=2020-03-11&birth_year=abc"} {
		env.get(t, "/api/v2/rules?"+q).wantError(t, 400, publicmask.EBadRequest)
	}
	newEnv(t, nil, Options{}).get(t, "/api/v2/rules?date=2020-03-11").wantError(t, 404, publicmask.ENotFound)
}

func TestNotReadyIs503(t *testing.T) {
	r := snapshot.NewRefresher(newFakeSource(nil), snapshot.Options{})
	h := NewHandler(r, Options{})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/corona19-masks/v1/stores/json", nil))
	if w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("before the first snapshot: %d", w.Code)
	}
}

// sseReader reads events from a stream.
type sseReader struct{ sc *bufio.Scanner }

// next returns the next event's name and data, or a comment as name ":".
func (s *sseReader) next() (name, data string, err error) {
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "":
			if name != "" {
				return name, data, nil
			}
		case strings.HasPrefix(line, ":"):
			if name == "" {
				return ":", strings.TrimSpace(line[1:]), nil
			}
		case strings.HasPrefix(line, "event: "):
			name = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		}
	}
	if err := s.sc.Err(); err != nil {
		return "", "", err
	}
	return "", "", fmt.Errorf("stream ended")
}

func TestStreamDeliversChangesInsideCircleOnly(t *testing.T) {
	env, _ := gangbukEnv(t, Options{Heartbeat: 30 * time.Millisecond})
	srv := httptest.NewServer(env.h)
	defer srv.Close()
	in := env.src.get("11817488")  // 승약국 (미아동)
	out := env.src.get("11885947") // 대우약국 (수유동), about 1 km north
	if d := haversine(in.Lat, in.Lng, out.Lat, out.Lng); d < 600 {
		t.Fatalf("setup: outlets only %v m apart", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v2/stream?lat=%v&lng=%v&m=300", srv.URL, in.Lat, in.Lng), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rd := &sseReader{bufio.NewScanner(resp.Body)}
	nextEvent := func() (string, string) {
		for {
			name, data, err := rd.next()
			if err != nil {
				t.Fatal(err)
			}
			if name != ":" {
				return name, data
			}
		}
	}
	// The subscription exists once the first comment arrived.
	if name, _, err := rd.next(); err != nil || name != ":" {
		t.Fatalf("opening comment: %q %v", name, err)
	}
	// Outside first, then inside: the first event must be the inside one.
	out.Stock = 3
	env.r.Notify([]publicmask.Outlet{env.src.put(out)})
	waitFor(t, "outside change applied", func() bool { return env.r.Current().Version() == env.src.get(out.Code).Version })
	in.Stock = 7
	env.r.Notify([]publicmask.Outlet{env.src.put(in)})
	name, data := nextEvent()
	var ev struct {
		Code       string
		RemainStat string `json:"remain_stat"`
		DistanceM  *int   `json:"distance_m"`
	}
	if err := json.Unmarshal([]byte(data), &ev); err != nil {
		t.Fatalf("event data %q: %v", data, err)
	}
	if name != "outlet" || ev.Code != in.Code || ev.RemainStat != "few" || ev.DistanceM == nil || *ev.DistanceM != 0 {
		t.Fatalf("event %s %s, want the inside outlet", name, data)
	}
	// Heartbeats keep coming.
	for {
		name, data, err := rd.next()
		if err != nil {
			t.Fatal(err)
		}
		if name == ":" && data == "heartbeat" {
			break
		}
	}
	env.get(t, "/api/v2/stream?lat=99&lng=127").wantError(t, 400, publicmask.EBadRequest)
}

func TestSlowStreamClientDoesNotBlockNotify(t *testing.T) {
	env, _ := gangbukEnv(t, Options{StreamBuffer: 1, StreamWriteTimeout: 200 * time.Millisecond})
	srv := httptest.NewServer(env.h)
	defer srv.Close()
	o := env.src.get("11817488")
	// A client that connects and never reads.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v2/stream?lat=%v&lng=%v&m=5000", srv.URL, o.Lat, o.Lng), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// And a subscriber that never drains its channel.
	stuck := env.r.Subscribe(1, nil)
	defer stuck.Close()
	done := make(chan struct{})
	var last publicmask.Outlet
	go func() {
		defer close(done)
		for i := 0; i < 3000; i++ {
			o.Stock = i % 300
			o.Name = strings.Repeat("약", 200) // big events fill socket buffers sooner
			last = env.src.put(o)
			env.r.Notify([]publicmask.Outlet{last})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Notify blocked behind slow subscribers")
	}
	waitFor(t, "last change applied", func() bool { return env.r.Current().Version() == last.Version })
	// The burst above may have been coalesced into one or two applied
	// batches; a few more, each applied before the next, must overflow a
	// subscriber whose buffer holds one batch and who never reads.
	for i := range 4 {
		o.Stock = 1000 + i
		last = env.src.put(o)
		env.r.Notify([]publicmask.Outlet{last})
		waitFor(t, "change applied", func() bool { return env.r.Current().Version() == last.Version })
	}
	waitFor(t, "stuck subscriber dropped", stuck.Dropped)
}
