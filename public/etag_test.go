package public

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/snapshot"
)

// A strong ETag names exact bytes. The refresher changes some bodies under
// the same snapshot version: confirming moves as_of (in every v2 envelope),
// and the idle sweep turns a forecast's sellout_at null. Such a body must
// get a new ETag, and the old one must no longer earn a 304; v1 bodies,
// unchanged by either, keep theirs.
func TestETagFollowsBodyUnderSameVersion(t *testing.T) {
	t0 := time.Date(2020, 3, 11, 8, 0, 0, 0, publicmask.Seoul)
	var now atomic.Int64
	now.Store(t0.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }

	sell := publicmask.Outlet{Code: "10000001", Name: "가약국", Addr: "서울특별시 강북구 솔매로 38 (미아동)", Type: "01",
		Lat: 37.6254369, Lng: 127.0164096, Stock: 300, StockAt: t0, UpdatedAt: t0}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newFakeSource([]publicmask.Outlet{sell})
	r := snapshot.NewRefresher(src, snapshot.Options{Clock: clock, ConfirmEvery: 50 * time.Millisecond})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	env := &testEnv{src: src, r: r, h: NewHandler(r, Options{Heartbeat: time.Hour})}

	// Two masks every 30 s for ten minutes: a forecast with a sellout time.
	o := src.get(sell.Code)
	at := t0
	for range 20 {
		at = at.Add(30 * time.Second)
		now.Store(at.UnixNano())
		o.Stock, o.Sold, o.UpdatedAt = o.Stock-2, o.Sold+2, at
		o = src.put(o)
		r.Notify([]publicmask.Outlet{o})
		waitFor(t, "sale applied", func() bool { return r.Current().Version() == o.Version })
	}

	urls := []string{
		"/api/v2/outlets/" + sell.Code,
		fmt.Sprintf("/api/v2/outlets/near?lat=%v&lng=%v&m=100", sell.Lat, sell.Lng),
		"/api/v2/summary",
		fmt.Sprintf("/corona19-masks/v1/storesByGeo/json?lat=%v&lng=%v&m=100", sell.Lat, sell.Lng),
	}
	before := map[string]response{}
	for _, u := range urls {
		for _, gz := range []string{"identity", "gzip"} {
			res := env.get(t, u, "Accept-Encoding", gz)
			if res.code != http.StatusOK || res.header.Get("Etag") == "" {
				t.Fatalf("%s: %d %q", u, res.code, res.header.Get("Etag"))
			}
			before[u+gz] = res
		}
	}
	if !bytes.Contains(before[urls[0]+"identity"].body, []byte(`"sellout_at":"`)) {
		t.Fatalf("no sellout time before the sweep: %s", before[urls[0]+"identity"].body)
	}

	// Eleven quiet minutes: the next confirmation sweeps the idle forecast.
	version := r.Current().Version()
	now.Store(at.Add(snapshot.IdleAfter + time.Minute).UnixNano())
	waitFor(t, "idle forecast swept", func() bool {
		return bytes.Contains(env.get(t, urls[0]).body, []byte(`"sellout_at":null`))
	})
	if r.Current().Version() != version {
		t.Fatalf("version moved %d → %d: the test no longer covers a same-version change", version, r.Current().Version())
	}

	for _, u := range urls {
		for _, gz := range []string{"identity", "gzip"} {
			old := before[u+gz]
			res := env.get(t, u, "Accept-Encoding", gz)
			same := bytes.Equal(res.body, old.body)
			if sameTag := res.header.Get("Etag") == old.header.Get("Etag"); sameTag != same {
				t.Errorf("%s (%s): body changed %v but ETag %q → %q", u, gz, !same, old.header.Get("Etag"), res.header.Get("Etag"))
			}
			cond := env.get(t, u, "Accept-Encoding", gz, "If-None-Match", old.header.Get("Etag"))
			if want := map[bool]int{true: http.StatusNotModified, false: http.StatusOK}[same]; cond.code != want {
				t.Errorf("%s (%s): If-None-Match with the old ETag: %d, want %d", u, gz, cond.code, want)
			}
		}
	}
	// v1 has neither as_of nor forecasts: its validator survives the sweep.
	if v1 := urls[3] + "identity"; !bytes.Equal(env.get(t, urls[3]).body, before[v1].body) {
		t.Errorf("v1 body changed under the same version")
	}
}

// /openapi.json is a public response like the others (§4.1): it carries the
// ETag, Cache-Control and X-Data-* headers and answers If-None-Match with
// 304, so that a client or CDN revalidates it for free.
func TestOpenAPIHeadersAndNotModified(t *testing.T) {
	env := newEnv(t, []publicmask.Outlet{{Code: "10000001", Name: "가약국", Addr: "서울특별시 강북구 솔매로 38 (미아동)", Type: "01",
		Lat: 37.6254369, Lng: 127.0164096}}, Options{})
	for _, gz := range []string{"identity", "gzip"} {
		res := env.get(t, "/openapi.json", "Accept-Encoding", gz)
		if res.code != http.StatusOK || !bytes.Contains(res.body, []byte(`"openapi"`)) {
			t.Fatalf("%s: %d %.80s", gz, res.code, res.body)
		}
		for _, k := range []string{"Etag", "Cache-Control", "X-Data-Version", "X-Data-As-Of"} {
			if res.header.Get(k) == "" {
				t.Errorf("%s: no %s header", gz, k)
			}
		}
		tag := res.header.Get("Etag")
		again := env.get(t, "/openapi.json", "Accept-Encoding", gz, "If-None-Match", tag)
		if again.code != http.StatusNotModified || len(again.body) != 0 {
			t.Errorf("%s: If-None-Match %s: %d (%d bytes), want 304", gz, tag, again.code, len(again.body))
		}
	}
	plain := env.get(t, "/openapi.json").header.Get("Etag")
	if zipped := env.get(t, "/openapi.json", "Accept-Encoding", "gzip").header.Get("Etag"); zipped == plain || plain == "" {
		t.Errorf("identity and gzip share the ETag %q", plain)
	}
}
