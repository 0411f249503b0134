package httpapi

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// newPublicPair is newLeanPair with the real public handler (publicBenchHandler).
func newPublicPair(t *testing.T) *leanPair {
	h := publicBenchHandler(t)
	return newLeanPairCfg(t, func(c *Config) { c.Public = h }, nil)
}

const (
	geoPath  = "/corona19-masks/v1/storesByGeo/json?lat=37.5665&lng=126.9780&m=1000"
	nearPath = "/api/v2/outlets/near?lat=37.5665&lng=126.9780&m=1000&limit=50"
)

// leanGetCases are public reads the lean path takes, and variants it must
// answer as net/http does (most by handing them over).
func leanGetCases() map[string]string {
	get := func(target, head string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:1\r\n" + head + "\r\n"
	}
	rush := "User-Agent: publicmask-rush\r\n"
	return map[string]string{
		"geo":                 get(geoPath, rush),
		"geo m5000":           get("/corona19-masks/v1/storesByGeo/json?lat=37.5665&lng=126.9780&m=5000", rush),
		"geo slash":           get("/corona19-masks/v1/storesByGeo/json/?lat=37.5665&lng=126.9780&m=1000", ""),
		"geo gzip":            get(geoPath, "Accept-Encoding: gzip\r\n"),
		"geo m5000 gzip":      get("/corona19-masks/v1/storesByGeo/json?lat=37.5665&lng=126.9780&m=5000", "Accept-Encoding: gzip, deflate\r\n"),
		"geo bad lat":         get("/corona19-masks/v1/storesByGeo/json?lat=abc&lng=126.9780", ""),
		"geo no query":        get("/corona19-masks/v1/storesByGeo/json", ""),
		"geo empty query":     get("/corona19-masks/v1/storesByGeo/json?", ""),
		"geo escapes":         get("/corona19-masks/v1/storesByGeo/json?lat=37%2E5665&lng=126.9780&m=1e3", ""),
		"geo bad escape":      get("/corona19-masks/v1/storesByGeo/json?lat=%zz", ""),
		"geo semicolon":       get("/corona19-masks/v1/storesByGeo/json?lat=37.5665;lng=126.9780", ""),
		"geo fragment":        get(geoPath+"#x", ""),
		"geo non-ASCII":       get(geoPath+"&q=\xea\xb0\x80", ""),
		"geo path escape":     get("/corona19-masks/v1/%73toresByGeo/json?lat=37.5665&lng=126.9780", ""),
		"geo double slash":    get("//corona19-masks/v1/storesByGeo/json?lat=37.5665&lng=126.9780", ""),
		"geo dot segment":     get("/corona19-masks/v1/./storesByGeo/json?lat=37.5665&lng=126.9780", ""),
		"geo absolute":        get("http://x"+geoPath, ""),
		"geo id":              get(geoPath, "X-Request-Id: abc-1\r\n"),
		"geo etag":            get(geoPath, "If-None-Match: \"nope\"\r\n"),
		"geo origin":          get(geoPath, "Origin: https://example.org\r\nReferer: https://example.org/\r\nAccept: */*\r\nAccept-Language: ko\r\n"),
		"geo keep-alive":      get(geoPath, "Connection: keep-alive\r\n"),
		"geo close":           get(geoPath, "Connection: close\r\n"),
		"geo length 0":        get(geoPath, "Content-Length: 0\r\n"),
		"geo with body":       get(geoPath, "Content-Length: 2\r\n") + "{}",
		"geo chunked":         get(geoPath, "Transfer-Encoding: chunked\r\n") + "0\r\n\r\n",
		"geo no host":         "GET " + geoPath + " HTTP/1.1\r\n\r\n",
		"geo two hosts":       get(geoPath, "Host: y\r\n"),
		"geo HTTP/1.0":        "GET " + geoPath + " HTTP/1.0\r\nHost: x\r\n\r\n",
		"geo pipelined":       get(geoPath, "") + get(nearPath, "") + get("/api/v2/outlets/11000017", ""),
		"geo then sale":       get(geoPath, "") + "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
		"geo then healthz":    get(geoPath, "") + get("/healthz", ""),
		"geo bare LF":         strings.ReplaceAll(get(geoPath, ""), "\r\n", "\n"),
		"geo folded":          get(geoPath, "X-A: a\r\n b\r\n"),
		"HEAD geo":            strings.Replace(get(geoPath, ""), "GET", "HEAD", 1),
		"near":                get(nearPath, rush),
		"near status":         get(nearPath+"&status=plenty,some", ""),
		"near gzip":           get(nearPath, "Accept-Encoding: gzip\r\n"),
		"addr":                get("/corona19-masks/v1/storesByAddr/json?address=%EC%84%9C%EC%9A%B8+%EC%A4%91%EA%B5%AC", ""),
		"addr none":           get("/corona19-masks/v1/storesByAddr/json", ""),
		"stores page":         get("/corona19-masks/v1/stores/json?page=1&perPage=50", ""),
		"sales page":          get("/corona19-masks/v1/sales/json?page=2&perPage=100", ""),
		"outlet":              get("/api/v2/outlets/11000017", rush),
		"outlet unknown":      get("/api/v2/outlets/99999999", ""),
		"outlet escape":       get("/api/v2/outlets/1100%30017", ""),
		"outlet slash":        get("/api/v2/outlets/11000017/", ""),
		"outlet query":        get("/api/v2/outlets/11000017?x=1", ""),
		"outlets root":        get("/api/v2/outlets/", ""),
		"summary":             get("/api/v2/summary", ""),
		"stream":              get("/api/v2/stream?lat=37.5665&lng=126.9780&m=1000", ""),
		"openapi":             get("/openapi.json", ""),
		"v1 unknown":          get("/corona19-masks/v1/nothing/json", ""),
		"lower-case method":   strings.Replace(get(geoPath, ""), "GET", "get", 1),
		"options":             strings.Replace(get(geoPath, "Origin: https://example.org\r\nAccess-Control-Request-Method: GET\r\n"), "GET", "OPTIONS", 1),
		"geo upgrade":         get(geoPath, "Connection: Upgrade\r\nUpgrade: h2c\r\n"),
		"geo expect":          get(geoPath, "Expect: 100-continue\r\n"),
		"geo big header":      get(geoPath, "Cookie: "+strings.Repeat("c", 6000)+"\r\n"),
		"geo space in target": get("/corona19-masks/v1/storesByGeo/json?lat=37.5665 &lng=126.9780", ""),
	}
}

// TestLeanGetAsNetHTTP: the public reads get the same bytes from the lean
// path as from net/http alone (but the Date and generated request IDs),
// and both leave the connection open or close it alike.
func TestLeanGetAsNetHTTP(t *testing.T) {
	compareAsNetHTTP(t, newPublicPair(t), leanGetCases(), 600*time.Millisecond, normalize)
}

// TestLeanGetKeepAlive: the rush's four kinds of read stay on the lean
// path on one connection, and the stream hands the connection over.
func TestLeanGetKeepAlive(t *testing.T) {
	p := newPublicPair(t)
	c, err := net.Dial("tcp", p.lean)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	reads := []string{geoPath, nearPath, "/api/v2/outlets/11000017",
		"/corona19-masks/v1/storesByAddr/json?address=%EC%84%9C%EC%9A%B8%ED%8A%B9%EB%B3%84%EC%8B%9C+%EC%A4%91%EA%B5%AC",
		"/corona19-masks/v1/storesByGeo/json?lat=37.5665&lng=126.9780&m=5000"}
	for range 3 {
		for _, r := range reads {
			io.WriteString(c, "GET "+r+" HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK && !(strings.Contains(r, "Addr") && resp.StatusCode == http.StatusBadRequest) {
				t.Fatalf("%s: status %d", r, resp.StatusCode)
			}
		}
	}
	if n, h := p.ll.Counts(); n != int64(3*len(reads)) || h != 0 {
		t.Fatalf("lean %d, handed over %d; want %d, 0", n, h, 3*len(reads))
	}
}

// TestPublicHeaders: every public answer carries the headers of the
// contract (DESIGN.md §4.1: ETag, Cache-Control, X-Data-Version,
// X-Data-As-Of, CORS) and the ones caching and clients rely on (Vary,
// Content-Type, Content-Length, X-Request-Id), on net/http and on the
// lean path alike, 200, 304 and gzip included.
func TestPublicHeaders(t *testing.T) {
	p := newPublicPair(t)
	routes := []string{
		geoPath, "/corona19-masks/v1/storesByGeo/json?lat=37.5665&lng=126.9780&m=5000",
		nearPath, "/api/v2/outlets/11000017",
		"/corona19-masks/v1/storesByAddr/json?address=%EC%84%9C%EC%9A%B8%ED%8A%B9%EB%B3%84%EC%8B%9C+%EC%A4%91%EA%B5%AC+%EC%84%B8%EC%A2%85%EB%8C%80%EB%A1%9C",
		"/corona19-masks/v1/stores/json?page=1&perPage=50", "/corona19-masks/v1/sales/json",
		"/api/v2/summary", "/openapi.json",
	}
	exact := map[string]string{
		"Access-Control-Allow-Origin":   "*",
		"Access-Control-Expose-Headers": "ETag, X-Data-Version, X-Data-As-Of, Retry-After",
		"Cache-Control":                 "public, max-age=1",
		"Vary":                          "Accept-Encoding",
	}
	present := []string{"Etag", "X-Data-Version", "X-Data-As-Of", "X-Request-Id", "Date"}
	for _, path := range []struct{ name, addr string }{{"net/http", p.plain}, {"lean", p.lean}} {
		for _, route := range routes {
			for _, gz := range []bool{false, true} {
				c, err := net.Dial("tcp", path.addr)
				if err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(c)
				get := func(extra string) *http.Response {
					t.Helper()
					if gz {
						extra += "Accept-Encoding: gzip\r\n"
					}
					io.WriteString(c, "GET "+route+" HTTP/1.1\r\nHost: x\r\n"+extra+"\r\n")
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.ContentLength != int64(len(b)) && resp.StatusCode == http.StatusOK {
						t.Errorf("%s %s: Content-Length %d, body %d", path.name, route, resp.ContentLength, len(b))
					}
					return resp
				}
				for _, cond := range []bool{false, true} {
					var resp *http.Response
					if !cond {
						resp = get("")
					} else {
						resp = get("If-None-Match: " + resp0Etag(t, get("")) + "\r\n")
					}
					want := http.StatusOK
					if cond {
						want = http.StatusNotModified
					}
					where := path.name + " " + route + map[bool]string{true: " gzip"}[gz] + map[bool]string{true: " conditional"}[cond]
					if resp.StatusCode != want {
						t.Errorf("%s: status %d, want %d", where, resp.StatusCode, want)
						continue
					}
					for k, v := range exact {
						if got := resp.Header.Values(k); len(got) != 1 || got[0] != v {
							t.Errorf("%s: %s %q, want %q", where, k, got, v)
						}
					}
					for _, k := range present {
						if len(resp.Header.Values(k)) != 1 || resp.Header.Get(k) == "" {
							t.Errorf("%s: %s %q, want one value", where, k, resp.Header.Values(k))
						}
					}
					if !cond {
						if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
							t.Errorf("%s: Content-Type %q", where, ct)
						}
						if resp.Header.Get("Content-Length") == "" || len(resp.TransferEncoding) > 0 {
							t.Errorf("%s: no Content-Length (%q)", where, resp.TransferEncoding)
						}
						if ce := resp.Header.Get("Content-Encoding"); (ce == "gzip") != gz {
							t.Errorf("%s: Content-Encoding %q", where, ce)
						}
					}
				}
				c.Close()
			}
		}
	}
	if n, _ := p.ll.Counts(); n == 0 {
		t.Errorf("the lean path answered nothing")
	}
}

func resp0Etag(t *testing.T, r *http.Response) string {
	t.Helper()
	e := r.Header.Get("Etag")
	if e == "" {
		t.Fatalf("no ETag")
	}
	return e
}
