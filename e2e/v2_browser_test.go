package e2e

import (
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/publicmask/publicmask/internal/browsertest"
)

// appOrigin serves a blank page on a port of its own (PUBLICMASK_E2E_PORTS):
// the origin of a third-party mask app calling the API from the browser.
func appOrigin(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><html><head><title>mask app</title></head><body>app</body></html>`))
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestV2FromAnotherOrigin: a mask app on another origin uses every public v2
// endpoint from the browser as DESIGN.md §4.1–4.2 promise: the answers and
// their headers are readable, a conditional request gets 304, errors are
// readable JSON, the stream resumes from a near answer's version@epoch and a
// malformed since= is refused rather than silently opening a stream without
// its catch-up, and a 429's Retry-After is readable.
func TestV2FromAnotherOrigin(t *testing.T) {
	p := browsertest.NewPage(t, 800, 600) // skips without Chromium (fails under CI)
	s := start(t, "--db", filepath.Join(t.TempDir(), "pm.db"), "--seed", "none", "--tiles", "none", "--clock", "2020-03-11T10:00:00+09:00")
	codes, tokens := setupOutlets(t, s, 2, 500)
	app := appOrigin(t)
	if strings.TrimPrefix(app, "http://") == strings.TrimPrefix(s.base, "http://") {
		t.Fatal("the app must be on another origin")
	}
	p.Run(browsertest.Navigate(app + "/"))
	api := s.base

	type answer struct {
		Status  int    `json:"status"`
		ETag    string `json:"etag"`
		Version string `json:"version"`
		AsOf    string `json:"asOf"`
		Again   int    `json:"again"`
		AgainET string `json:"againEtag"`
		Keys    string `json:"keys"`
	}
	for path, keys := range map[string]string{
		"/api/v2/outlets/near?lat=37.62&lng=127.0164&m=5000&limit=10": "as_of,count,epoch,outlets,version",
		"/api/v2/outlets/" + codes[0]:                                 "addr,code,forecast,lat,lng,name,remain_stat,stock_at,type,updated_at",
		"/api/v2/places?q=" + "%EC%84%9C%EC%9A%B8":                    "places",
		"/api/v2/rules?date=2020-03-11&birth_year=1983":               "date,digits_today,duplicate_check,holiday,period_from,person,proxy_day_rule,purchases_per_week,rotation,sales_open,split_purchases,weekend,weekend_rule,weekly_quota",
		"/api/v2/summary": "as_of,national,sales_per_10min,sido,sigungu,version",
	} {
		var a answer
		p.Eval(`(async () => {
			const url = '`+api+path+`';
			const r = await fetch(url);
			const j = await r.json();
			// If-None-Match is not a simple header: the browser sends a preflight first.
			const again = await fetch(url, {headers: {'If-None-Match': r.headers.get('ETag')}});
			return {status: r.status, etag: r.headers.get('ETag'), version: r.headers.get('X-Data-Version'),
				asOf: r.headers.get('X-Data-As-Of'), again: again.status, againEtag: again.headers.get('ETag'),
				keys: Object.keys(j).sort().join(',')};
		})()`, &a)
		// near's tag follows as_of (in its body), which moves each second
		// the node confirms its snapshot: a new tag and 200 is right then.
		if a.Status != 200 || a.ETag == "" || a.Version == "" || a.AsOf == "" || a.Keys != keys ||
			!(a.Again == 304 || a.Again == 200 && a.AgainET != a.ETag) {
			t.Errorf("GET %s from another origin: %+v, want 200 with keys %s, the headers readable, then 304", path, a, keys)
		}
	}

	// Errors are readable JSON with their status.
	var errs []string
	p.Eval(`(async () => {
		const out = [];
		for (const path of ['/api/v2/outlets/near?lat=99&lng=127', '/api/v2/outlets/99999999', '/api/v2/rules?date=2020-02-30', '/api/v2/places']) {
			const r = await fetch('`+api+`' + path);
			out.push(r.status + ' ' + (await r.json()).error.code);
		}
		return out;
	})()`, &errs)
	if got, want := strings.Join(errs, "; "), "400 bad_request; 404 not_found; 400 bad_request; 400 bad_request"; got != want {
		t.Errorf("errors from another origin: %s, want %s", got, want)
	}

	// The stream from a near answer's version@epoch: a sale made between
	// the answer and the stream's opening arrives, with epoch ids.
	p.Eval(`(async () => {
		const j = await (await fetch('`+api+`/api/v2/outlets/near?lat=37.62&lng=127.0164&m=5000')).json();
		window.cursor = j.version + '@' + j.epoch;
		return true;
	})()`, nil)
	s.mustCall("POST", "/api/v2/outlet/sales", tokens[codes[0]], map[string]any{"txn_id": "v2cors-1", "buyer": born83(7), "quantity": 2}, nil, 201)
	p.Eval(`(() => {
		window.ids = [];
		window.es = new EventSource('`+api+`/api/v2/stream?lat=37.62&lng=127.0164&m=5000&since=' + encodeURIComponent(window.cursor));
		window.es.addEventListener('outlet', e => window.ids.push(JSON.parse(e.data).code + ' ' + e.lastEventId));
		return true;
	})()`, nil)
	p.Wait(`window.ids.some(s => s.startsWith('`+codes[0]+` ') && s.includes('@'))`, 10*time.Second)

	// A malformed since= is refused: EventSource gives up (CLOSED) instead
	// of opening a stream that silently skips the catch-up.
	p.Eval(`(() => {
		window.bad = new EventSource('`+api+`/api/v2/stream?lat=37.62&lng=127.0164&m=5000&since=v12');
		window.badOpened = false;
		window.bad.onopen = () => { window.badOpened = true; };
		return true;
	})()`, nil)
	time.Sleep(1500 * time.Millisecond) // an opened stream would have said so by now
	var bad struct {
		State  int  `json:"state"`
		Opened bool `json:"opened"`
	}
	p.Eval(`({state: window.bad.readyState, opened: window.badOpened})`, &bad)
	if bad.Opened || bad.State != 2 {
		t.Errorf("stream with since=v12: opened %v, readyState %d, want refused (CLOSED, 2)", bad.Opened, bad.State)
	}

	// A node with a per-client rate: the app reads the 429's Retry-After.
	limited := start(t, "--db", filepath.Join(t.TempDir(), "pm2.db"), "--seed", "none", "--tiles", "none", "--public-rate", "1")
	var rl struct {
		Status     int    `json:"status"`
		Code       string `json:"code"`
		RetryAfter string `json:"retryAfter"`
	}
	p.Eval(`(async () => {
		for (let i = 0; i < 50; i++) {
			const r = await fetch('`+limited.base+`/api/v2/summary', {cache: 'no-store'});
			if (r.status === 429) {
				return {status: 429, code: (await r.json()).error.code, retryAfter: r.headers.get('Retry-After')};
			}
		}
		return {status: 200};
	})()`, &rl)
	if rl.Status != 429 || rl.Code != "rate_limited" || rl.RetryAfter == "" {
		t.Errorf("rate-limited node from another origin: %+v, want 429 rate_limited with a readable Retry-After", rl)
	}
}
