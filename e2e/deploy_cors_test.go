package e2e

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/publicmask/publicmask/internal/browsertest"
)

// TestCORSFromAnotherOrigin: a 2020-style web app served from another
// origin reads the open data API from the browser — storesByGeo (with a
// conditional request, which needs a preflight) and the live stream — and
// the browser blocks its fetches of an outlet route (§4.1 CORS).
func TestCORSFromAnotherOrigin(t *testing.T) {
	p := browsertest.NewPage(t, 800, 600) // skips without Chromium (fails under CI)
	s := start(t, "--db", filepath.Join(t.TempDir(), "pm.db"), "--seed", "none", "--tiles", "none", "--clock", "2020-03-11T10:00:00+09:00")
	codes, tokens := setupOutlets(t, s, 2, 500)

	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><html><head><title>mask map 2020</title></head><body>app</body></html>`))
	}))
	defer app.Close()
	if strings.TrimPrefix(app.URL, "http://") == strings.TrimPrefix(s.base, "http://") {
		t.Fatal("the app must be on another origin")
	}
	p.Run(browsertest.Navigate(app.URL + "/"))

	api := s.base
	var geo struct {
		Status  int    `json:"status"`
		Count   int    `json:"count"`
		ETag    string `json:"etag"`
		Version string `json:"version"`
		AsOf    string `json:"asOf"`
		Again   int    `json:"again"`
	}
	p.Eval(`(async () => {
		const url = '`+api+`/corona19-masks/v1/storesByGeo/json/?lat=37.62&lng=127.0164&m=5000';
		const r = await fetch(url);
		const j = await r.json();
		// If-None-Match is not a simple header: the browser sends a preflight first.
		const again = await fetch(url, {headers: {'If-None-Match': r.headers.get('ETag')}});
		return {status: r.status, count: j.count, etag: r.headers.get('ETag'), version: r.headers.get('X-Data-Version'),
			asOf: r.headers.get('X-Data-As-Of'), again: again.status};
	})()`, &geo)
	if geo.Status != 200 || geo.Count != 2 || geo.ETag == "" || geo.Version == "" || geo.AsOf == "" || geo.Again != 304 {
		t.Fatalf("storesByGeo from another origin: %+v", geo)
	}

	// The stream: an EventSource opens and receives a sale's change.
	p.Eval(`(() => {
		window.events = [];
		window.es = new EventSource('`+api+`/api/v2/stream?lat=37.62&lng=127.0164&m=5000');
		window.es.addEventListener('outlet', e => window.events.push(JSON.parse(e.data).code));
		return true;
	})()`, nil)
	p.Wait(`window.es.readyState === 1`, 10*time.Second)
	s.mustCall("POST", "/api/v2/outlet/sales", tokens[codes[0]], map[string]any{"txn_id": "cors-1", "buyer": born83(7), "quantity": 2}, nil, 201)
	p.Wait(`window.events.includes('`+codes[0]+`')`, 10*time.Second)

	// Outlet routes send no CORS headers: the browser refuses the answer,
	// with a token (preflight refused) or without (response unreadable).
	var blocked []string
	p.Eval(`(async () => {
		const out = [];
		for (const opts of [{headers: {'Authorization': 'Bearer `+tokens[codes[0]]+`'}}, {}]) {
			try { const r = await fetch('`+api+`/api/v2/outlet', opts); out.push('read ' + r.status); }
			catch (e) { out.push(e.name); }
		}
		try {
			const r = await fetch('`+api+`/api/v2/outlet/sales', {method: 'POST', headers: {'Authorization': 'Bearer `+tokens[codes[0]]+`', 'Content-Type': 'application/json'},
				body: JSON.stringify({txn_id: 'cors-2', buyer: '`+born83(8)+`', quantity: 1})});
			out.push('read ' + r.status);
		} catch (e) { out.push(e.name); }
		return out;
	})()`, &blocked)
	for i, b := range blocked {
		if b != "TypeError" {
			t.Errorf("outlet request %d from another origin: %s, want blocked (TypeError)", i, b)
		}
	}
	// The blocked sale's preflight failed, so it was never sent.
	var recent struct {
		Sales []struct {
			Quantity int `json:"quantity"`
		} `json:"sales"`
	}
	s.mustCall("GET", "/api/v2/outlet/sales", tokens[codes[0]], nil, &recent, 200)
	if len(recent.Sales) != 1 {
		t.Fatalf("outlet has %d sales, want only the one made directly (the cross-origin sale must not be sent)", len(recent.Sales))
	}
}
