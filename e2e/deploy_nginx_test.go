package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// nginxFront runs Debian's nginx with deploy/nginx/publicmask.conf in front
// of the given pools. Only the listen address, the upstream servers and the
// cache directory are swapped, and TLS dropped; the routing and caching are
// the committed file's.
type nginxFront struct {
	base string
	dir  string
}

func startNginx(t *testing.T, ledgers, publics []*server) *nginxFront {
	t.Helper()
	bin := needTool(t, "nginx", "nginx", "/usr/sbin/nginx")
	conf, err := os.ReadFile(repoFile("deploy/nginx/publicmask.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := sharedTempDir(t, "pm-nginx")
	addr := freeAddr(t)
	c := string(conf)
	must := func(re, repl string) {
		t.Helper()
		r := regexp.MustCompile(re)
		if !r.MatchString(c) {
			t.Fatalf("deploy/nginx/publicmask.conf no longer has %q: update the test's templating", re)
		}
		c = r.ReplaceAllLiteralString(c, repl)
	}
	servers := func(nodes []*server) string {
		var b strings.Builder
		for _, n := range nodes {
			fmt.Fprintf(&b, "    server %s max_fails=3 fail_timeout=5s;\n", strings.TrimPrefix(n.base, "http://"))
		}
		return b.String()
	}
	must(`(?m)(^\s*server 10\.0\.1\.\d+:8080[^\n]*\n)+`, servers(ledgers))
	must(`(?m)(^\s*server 10\.0\.2\.\d+:8080[^\n]*\n)+`, servers(publics))
	must(`(?m)^\s*listen 443 ssl http2;\n`, "    listen "+addr+";\n")
	must(`(?m)^\s*listen \[::\]:443 ssl http2;\n`, "")
	must(`(?m)^\s*ssl_[a-z_]+\s[^\n]*\n`, "")
	must(`/var/cache/nginx/publicmask`, filepath.Join(dir, "cache"))
	must(`/var/log/nginx/publicmask.access.log`, filepath.Join(dir, "publicmask.access.log"))
	if err := os.WriteFile(filepath.Join(dir, "publicmask.conf"), []byte(c), 0o644); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must reach the test's directories
	}
	main := fmt.Sprintf(`%s
daemon off;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 4096; }
http {
    log_format cache '$upstream_cache_status $status $request_method $uri';
    access_log %[2]s/access.log cache;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    include %[2]s/publicmask.conf;
}
`, user, dir)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	dieWithTests(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not start: %s\n%s", out, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &nginxFront{base: "http://" + addr, dir: dir}
}

// routeCount sums publicmask_http_requests_total of a route on a node.
func routeCount(t *testing.T, s *server, route string) float64 {
	t.Helper()
	b := s.metrics(t)
	var sum float64
	for _, line := range strings.Split(b, "\n") {
		if strings.HasPrefix(line, "publicmask_http_requests_total{") && strings.Contains(line, `route="`+route+`"`) {
			var v float64
			fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
			sum += v
		}
	}
	return sum
}

// clientFrom is an HTTP client whose connections come from a given
// loopback address (a distinct citizen behind nginx).
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// TestNginxInFront: deploy/nginx/publicmask.conf in front of one ledger and
// two public nodes. Outlet, admin and counter routes reach the ledger pool,
// the open data API the public pool; the micro-cache answers repeated
// storesByGeo without reaching a node; the stream is not buffered; the
// nodes believe nginx's X-Forwarded-For (--trust-proxy) and not a client's;
// /metrics is not reachable through nginx; one request ID is in nginx's log
// and the node's.
func TestNginxInFront(t *testing.T) {
	skipShort(t, "runs nginx and three nodes")
	needTool(t, "nginx", "nginx", "/usr/sbin/nginx")
	dsn := pgDSN(t)
	common := []string{"--db", dsn, "--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	led := start(t, append([]string{"--role", "ledger", "--secret-file", secretFile(t, t.TempDir()), "--trust-proxy", "127.0.0.1"}, common...)...)
	pubArgs := append([]string{"--role", "public", "--trust-proxy", "127.0.0.1", "--public-rate", "5"}, common...)
	pubs := []*server{start(t, pubArgs...), start(t, pubArgs...)}
	ng := startNginx(t, []*server{led}, pubs)
	front := &server{t: t, base: ng.base}

	// Outlet and admin routes reach the ledger (public nodes have none).
	codes, tokens := setupOutlets(t, front, 3, 1000)
	front.mustCall("GET", "/api/v2/admin/verify", adminToken, nil, nil, 200)
	front.mustCall("GET", "/api/v2/outlet", tokens[codes[0]], nil, nil, 200)
	if code, h, err := front.callHeader("GET", "/outlet", "", nil, nil); err != nil || code != 200 || h.Get("X-Cache") != "" {
		t.Fatalf("counter page through nginx: %d %v %v", code, err, h)
	}
	// A node counts a request once its handler has returned, which may be
	// just after the client has read the whole answer.
	waitUntil(t, 5*time.Second, "the counter page counted by the ledger node", func() bool {
		return routeCount(t, led, "GET /outlet") >= 1
	})
	if n := routeCount(t, led, "GET /outlet"); n != 1 {
		t.Fatalf("the ledger node counted the counter page %v times, want 1", n)
	}
	checkRequestIDs(t, ng, led, tokens[codes[0]])

	// /metrics and pprof stay inside.
	front.mustCall("GET", "/metrics", "", nil, nil, 404)
	front.mustCall("GET", "/debug/pprof/", "", nil, nil, 404)

	// The open data API reaches the public pool, with CORS and its headers.
	geo := "/corona19-masks/v1/storesByGeo/json?lat=37.62&lng=127.0164&m=1000"
	waitUntil(t, 10*time.Second, "storesByGeo through nginx to list the 3 outlets", func() bool {
		var out struct{ Count int }
		code, _ := front.call("GET", geo+"&warm=1", "", nil, &out)
		return code == 200 && out.Count == 3
	})
	code, h, err := front.callHeader("GET", geo, "", nil, nil)
	if err != nil || code != 200 || h.Get("X-Data-Version") == "" || h.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("storesByGeo through nginx: %d %v %v", code, err, h)
	}
	req, _ := http.NewRequest("OPTIONS", ng.base+geo, nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("preflight through nginx: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	if routeCount(t, led, "GET /corona19-masks/") != 0 {
		t.Fatal("a public request reached the ledger node")
	}

	// Micro-cache: identical requests for 1.5 s (the cached answer expires
	// on the way) reach the public nodes about once per second.
	before := routeCount(t, pubs[0], "GET /corona19-masks/") + routeCount(t, pubs[1], "GET /corona19-masks/")
	hits, total := 0, 0
	t0 := time.Now()
	// At least 1.5 s and at least 100 requests: a loaded machine slows
	// the requests, and the bound below is by the time really taken.
	for time.Since(t0) < 1500*time.Millisecond || total < 100 {
		total++
		code, h, err := front.callHeader("GET", geo, "", nil, nil)
		if err != nil || code != 200 {
			t.Fatalf("cached storesByGeo: %d %v", code, err)
		}
		if h.Get("X-Cache") == "HIT" || h.Get("X-Cache") == "UPDATING" {
			hits++
		}
		time.Sleep(time.Millisecond) // a crowd's pace, not a benchmark
	}
	elapsed := time.Since(t0)
	after := routeCount(t, pubs[0], "GET /corona19-masks/") + routeCount(t, pubs[1], "GET /corona19-masks/")
	upstream := after - before
	t.Logf("micro-cache: %d identical requests in %v, %d hits (%.1f%%), %.0f reached a public node", total, elapsed.Round(time.Millisecond), hits, 100*float64(hits)/float64(total), upstream)
	if limit := elapsed.Seconds() + 3; upstream > limit {
		t.Errorf("%.0f of %d identical requests reached the public nodes in %v (micro-cache of 1 s: at most %.0f)", upstream, total, elapsed, limit)
	}
	// Both public nodes serve (distinct URLs are not cached together).
	for i := range 20 {
		// Each from its own citizen: the nodes limit 5 requests/s per citizen.
		resp, err := clientFrom(fmt.Sprintf("127.0.1.%d", i+1)).Get(fmt.Sprintf("%s%s&spread=%d", ng.base, geo, i))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("spread request %d: %v %v", i, err, resp)
		}
		resp.Body.Close()
	}
	for i, p := range pubs {
		waitUntil(t, 5*time.Second, fmt.Sprintf("public node %d to count a request through nginx", i+1), func() bool {
			return routeCount(t, p, "GET /corona19-masks/") > 0
		})
	}

	// The stream passes unbuffered: a sale shows within a second.
	stream := openStream(t, ng.base+"/api/v2/stream?lat=37.62&lng=127.0164&m=1000")
	if stream.header.Get("X-Cache") != "" {
		t.Errorf("stream went through the cache: %v", stream.header)
	}
	var receipt saleReceipt
	front.mustCall("POST", "/api/v2/outlet/sales", tokens[codes[1]], map[string]any{"txn_id": "ng-1", "buyer": born83(1), "quantity": 2}, &receipt, 201)
	sold := time.Now()
	waitUntil(t, 5*time.Second, "the sale on the stream through nginx", func() bool {
		for _, e := range stream.snapshot() {
			if e.code == codes[1] {
				return true
			}
		}
		return false
	})
	if d := time.Since(sold); d > time.Second {
		t.Errorf("stream event through nginx took %v", d)
	}

	// X-Forwarded-For: the public nodes key their per-client limit (5/s,
	// bursts of 10) on the citizen's address from nginx, not on nginx's,
	// and not on what a client wrote into the header itself.
	flood, other := clientFrom("127.0.0.2"), clientFrom("127.0.0.3")
	limited := 0
	for i := range 40 {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", fmt.Sprintf("%s%s&flood=%d", ng.base, geo, i), nil)
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.9.%d.%d", i/250, i%250)) // spoofed: must not help
		resp, err := flood.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("40 quick requests from one citizen (with spoofed X-Forwarded-For) were never limited")
	}
	resp, err := other.Get(fmt.Sprintf("%s%s&other=1", ng.base, geo))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("another citizen behind the same nginx was limited too: %d", resp.StatusCode)
	}
	t.Logf("X-Forwarded-For: %d of 40 requests of one citizen limited; another citizen served", limited)
}

// checkRequestIDs: nginx passes one request ID to the node, which logs it
// and echoes it, and nginx logs it too — its own $request_id, or a client's
// safe one; a client's ID shaped like a registration number reaches
// neither log.
func checkRequestIDs(t *testing.T, ng *nginxFront, led *server, outletToken string) {
	t.Helper()
	get := func(clientID string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", ng.base+"/api/v2/outlet", nil)
		req.Header.Set("Authorization", "Bearer "+outletToken)
		if clientID != "" {
			req.Header.Set("X-Request-Id", clientID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET /api/v2/outlet through nginx: %d", resp.StatusCode)
		}
		return resp.Header.Get("X-Request-Id")
	}
	nginxLog := func() string {
		b, _ := os.ReadFile(filepath.Join(ng.dir, "publicmask.access.log"))
		return string(b)
	}
	inBoth := func(id string) {
		t.Helper()
		want := `"request_id":"` + id + `"`
		waitUntil(t, 5*time.Second, "request ID "+id+" in the ledger node's log", func() bool {
			return strings.Contains(led.Logs(), want)
		})
		waitUntil(t, 5*time.Second, "request ID "+id+" in nginx's log", func() bool {
			return strings.Contains(nginxLog(), want+`,"node_request_id":"`+id+`"`)
		})
	}
	id := get("")
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Fatalf("X-Request-Id through nginx = %q, want nginx's $request_id (32 hex digits)", id)
	}
	inBoth(id)
	const mine = "counter-0042.t1"
	if got := get(mine); got != mine {
		t.Fatalf("a client's X-Request-Id %q came back as %q", mine, got)
	}
	inBoth(mine)
	const rrnID = "req-830315-1234561"
	got := get(rrnID)
	if got == rrnID || strings.Contains(got, "1234561") {
		t.Fatalf("an X-Request-Id holding a registration number came back as %q", got)
	}
	inBoth(got)
	if strings.Contains(nginxLog(), "1234561") || strings.Contains(led.Logs(), "1234561") {
		t.Fatal("a registration number sent as X-Request-Id reached a log")
	}
}

// TestNginxKeepsNoRegistrationNumber: a registration number typed into a
// URL — the map's search box, a script's GET of a check, a path — reaches
// no file of nginx's: not the access log (its path is masked), not the
// error log (which writes the whole request line when an upstream fails
// or a body is too large), not the micro-cache's files (which keep the
// key). Such requests are still served, and a coordinate with a long
// fraction is neither masked nor kept out of the cache. A body over nginx's
// limit gets the contract's JSON 413, not nginx's HTML page.
func TestNginxKeepsNoRegistrationNumber(t *testing.T) {
	dir := realRunDir(t, "runs nginx and a node")
	needTool(t, "nginx", "nginx", "/usr/sbin/nginx")
	s := start(t, "--db", filepath.Join(dir, "pm.db"), "--seed", "none", "--clock", "2020-03-11T08:00:00+09:00", "--trust-proxy", "127.0.0.1")
	ng := startNginx(t, []*server{s}, []*server{s})
	front := &server{t: t, base: ng.base}
	codes, tokens := setupOutlets(t, front, 1, 100)
	tok := tokens[codes[0]]
	raw := born83(7)
	hyph := raw[:6] + "-" + raw[6:]
	referer := ""
	do := func(method, path, token string, body string) (int, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, ng.base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if referer != "" {
			req.Header.Set("Referer", referer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	served := []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/api/v2/places?q=" + raw, "", 200}, // the map's search box, cacheable
		{"GET", "/api/v2/places?q=" + hyph, "", 200},
		{"GET", "/corona19-masks/v1/storesByAddr/json?address=" + raw, "", 400},
		{"GET", "/api/v2/outlets/" + raw, "", 404},             // a path
		{"GET", "/api/v2/outlets/%38" + raw[1:], "", 404},      // a path, one digit escaped
		{"GET", "/api/v2/outlet/check?buyer=" + raw, tok, 405}, // a mistaken GET, to the ledger pool
		{"GET", "/api/v2/outlet?x=" + raw, tok, 200},
		// The operations endpoints stay inside whatever the query.
		{"GET", "/metrics?x=" + raw, "", 404},
		{"GET", "/debug/pprof/?x=" + raw, "", 404},
		{"GET", "/debug/pprof/" + raw, "", 404},
	}
	for _, c := range served {
		if code, _ := do(c.method, c.path, c.token, ""); code != c.want {
			t.Errorf("%s %s through nginx = %d, want %d", c.method, c.path, code, c.want)
		}
	}
	// A coordinate with a 13-digit fraction is no registration number: it
	// is cached as any other.
	geo := "/corona19-masks/v1/storesByGeo/json?lat=37.6200000000001&lng=127.0164&m=1000"
	// (A few tries: the answer lives one second, a loaded machine may let
	// it expire between two requests.)
	cached := ""
	for range 5 {
		if _, h := do("GET", geo, "", ""); h.Get("X-Cache") == "HIT" {
			cached = "HIT"
			break
		} else {
			cached = h.Get("X-Cache")
		}
	}
	if cached != "HIT" {
		t.Errorf("storesByGeo with a long fraction: X-Cache %q, want HIT", cached)
	}
	// nginx's own refusals and upstream failures write the request line
	// into its error log.
	do("POST", "/api/v2/places?q="+raw, "", strings.Repeat("x", 2<<20))
	// A body over nginx's limit gets the contract's JSON error (a node's
	// is tested elsewhere), on an outlet route and a public one.
	for _, c := range []struct {
		path, token string
		size        int
	}{{"/api/v2/admin/outlets", adminToken, 33 << 20}, {"/api/v2/places?q=seoul", "", 2 << 20}} {
		req, _ := http.NewRequest("PUT", ng.base+c.path, strings.NewReader(strings.Repeat("x", c.size)))
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error struct{ Code string } }
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 413 || e.Error.Code != "body_too_large" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("PUT %s with %d MiB through nginx = %d %q %q, want 413 body_too_large in JSON", c.path, c.size>>20, resp.StatusCode, resp.Header.Get("Content-Type"), e.Error.Code)
		}
	}
	s.stop()
	do("GET", "/api/v2/outlet/check?buyer="+raw, tok, "")
	do("GET", "/corona19-masks/v1/storesByAddr/json?address="+raw, "", "")
	// A page whose URL holds a number sends it as the Referer of each
	// request it makes; the error log names the Referer.
	referer = ng.base + "/?address=" + raw
	do("GET", "/api/v2/summary", "", "")
	referer = ""
	do("GET", "/api/v2/places?q=seoul", "", "") // the error log works
	elog, _ := os.ReadFile(filepath.Join(ng.dir, "error.log"))
	if !strings.Contains(string(elog), "places?q=seoul") {
		t.Errorf("nginx's error log does not name a failed request:\n%s", elog)
	}
	var alog string
	filepath.Walk(ng.dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if strings.HasSuffix(p, "publicmask.access.log") {
			alog = string(b)
		}
		if strings.Contains(string(b), raw[6:]) || strings.Contains(string(b), raw[1:6]+"-") {
			t.Errorf("nginx's %s holds the registration number", strings.TrimPrefix(p, ng.dir))
		}
		return nil
	})
	if !strings.Contains(alog, `"path":"/api/v2/outlets/[masked]"`) || !strings.Contains(alog, `"path":"/api/v2/outlet"`) {
		t.Errorf("nginx's access log lost the route of a masked request:\n%s", alog)
	}
}
