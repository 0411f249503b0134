package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
)

// leanPair is one server twice: net/http alone (plain) and the lean path
// in front of net/http (lean), with serve's timeouts.
type leanPair struct {
	plain, lean string
	ll          *LeanListener
	tok, admin  string
	body        string
}

func newLeanPair(t *testing.T, hs func(*http.Server)) *leanPair {
	return newLeanPairCfg(t, nil, hs)
}

// saleRequest is p's sale as a client sends it.
func (p *leanPair) saleRequest() string {
	return "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + p.tok +
		"\r\nContent-Length: " + strconv.Itoa(len(p.body)) + "\r\n\r\n" + p.body
}

// exchangeOne sends req on c and reads its answer from br, which must have
// the status want.
func exchangeOne(t *testing.T, c net.Conn, br *bufio.Reader, req string, want int) {
	t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("status %d, want %d", resp.StatusCode, want)
	}
}

// newLeanPairCfg is newLeanPair with cfg's changes to the server's Config
// (e.g. a public handler).
func newLeanPairCfg(t *testing.T, cfgf func(*Config), hs func(*http.Server)) *leanPair {
	t.Helper()
	led, tok := saleEnv(t)
	admin, err := led.IssueToken(context.Background(), publicmask.RoleAdmin, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Logger: benchLogger()}
	if cfgf != nil {
		cfgf(&cfg)
	}
	srv := newServer(cfg, led)
	p := &leanPair{tok: tok, admin: admin,
		body: `{"txn_id":"t-0000000001","buyer":"` + testenv.ID("830101", '1', 1) + `","quantity":2}`}
	for i, addr := range []*string{&p.plain, &p.lean} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 2 * time.Minute, IdleTimeout: 90 * time.Second, MaxHeaderBytes: 64 << 10,
			ErrorLog: nil}
		if hs != nil {
			hs(s)
		}
		*addr = ln.Addr().String()
		if i == 1 {
			p.ll = srv.LeanListener(srv.Listener(ln), s)
			ln = p.ll
		}
		go s.Serve(ln)
		t.Cleanup(func() { s.Close() })
	}
	return p
}

// exchange writes req on a new connection and returns every byte the
// server sent within wait after the last one (or until it closed), and
// whether it closed.
func exchange(t *testing.T, addr string, req string, wait time.Duration) (string, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		c.SetReadDeadline(time.Now().Add(wait))
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return string(out), false
			}
			return string(out), true
		}
	}
}

var (
	dateLine = regexp.MustCompile(`(?m)^Date: [^\r]*\r$`)
	idLine   = regexp.MustCompile(`(?m)^X-Request-Id: [0-9a-f]{12}-[0-9a-z]+\r$`)
)

func normalize(s string) string {
	s = dateLine.ReplaceAllString(s, "Date: D\r")
	return idLine.ReplaceAllString(s, "X-Request-Id: ID\r")
}

// leanCases are requests of the lean path's route and their variants: each
// must be answered by the lean path exactly as net/http alone answers it.
func leanCases(p *leanPair) map[string]string {
	b := p.body
	cl := strconv.Itoa(len(b))
	sale := func(head string) string { return "POST /api/v2/outlet/sales HTTP/1.1\r\n" + head + "\r\n" + b }
	std := "Host: x\r\nAuthorization: Bearer " + p.tok + "\r\nContent-Type: application/json\r\nContent-Length: " + cl + "\r\n"
	return map[string]string{
		"valid":                 sale(std),
		"valid with id":         sale(std + "X-Request-Id: abc-1\r\n"),
		"invalid id":            sale(std + "X-Request-Id: a b\r\n"),
		"rush's request":        sale("Host: 127.0.0.1:1\r\nUser-Agent: publicmask-rush\r\nAuthorization: Bearer " + p.tok + "\r\nContent-Type: application/json\r\nContent-Length: " + cl + "\r\n"),
		"lower-case names":      sale("host: x\r\nauthorization: Bearer " + p.tok + "\r\ncontent-type: application/json\r\ncontent-length: " + cl + "\r\n"),
		"upper-case names":      sale("HOST: x\r\nAUTHORIZATION: Bearer " + p.tok + "\r\nCONTENT-LENGTH: " + cl + "\r\n"),
		"odd names":             sale(std + "x-weird_name: 1\r\nX-A.B: 2\r\n"),
		"no space":              sale("Host:x\r\nAuthorization:Bearer " + p.tok + "\r\nContent-Length:" + cl + "\r\n"),
		"extra space":           sale("Host:   x  \r\nAuthorization: \t Bearer " + p.tok + " \t\r\nContent-Length:  " + cl + "  \r\n"),
		"scheme case":           sale("Host: x\r\nAuthorization: bearer " + p.tok + "\r\nContent-Length: " + cl + "\r\n"),
		"two spaces token":      sale("Host: x\r\nAuthorization: Bearer  " + p.tok + "\r\nContent-Length: " + cl + "\r\n"),
		"repeated header":       sale(std + "Accept: a\r\nAccept: b\r\n"),
		"empty value":           sale(std + "X-Empty:\r\n"),
		"obs-text value":        sale(std + "X-Text: caf\xc3\xa9\r\n"),
		"ctl in value":          sale(std + "X-Text: a\x01b\r\n"),
		"del in value":          sale(std + "X-Text: a\x7fb\r\n"),
		"no token":              sale("Host: x\r\nContent-Length: " + cl + "\r\n"),
		"unknown token":         sale("Host: x\r\nAuthorization: Bearer nope-0123456789abcdef\r\nContent-Length: " + cl + "\r\n"),
		"admin token":           sale("Host: x\r\nAuthorization: Bearer " + p.admin + "\r\nContent-Length: " + cl + "\r\n"),
		"bad json":              "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + p.tok + "\r\nContent-Length: 5\r\n\r\n{\"a\":",
		"empty body":            "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + p.tok + "\r\nContent-Length: 0\r\n\r\n",
		"no length":             "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + p.tok + "\r\n\r\n",
		"duplicate length":      sale(std + "Content-Length: " + cl + "\r\n"),
		"two lengths":           sale(std + "Content-Length: 1" + cl + "\r\n"),
		"length list":           sale("Host: x\r\nAuthorization: Bearer " + p.tok + "\r\nContent-Length: " + cl + ", " + cl + "\r\n"),
		"length letters":        sale("Host: x\r\nAuthorization: Bearer " + p.tok + "\r\nContent-Length: 9a\r\n"),
		"length sign":           sale("Host: x\r\nAuthorization: Bearer " + p.tok + "\r\nContent-Length: +" + cl + "\r\n"),
		"length negative":       sale("Host: x\r\nAuthorization: Bearer " + p.tok + "\r\nContent-Length: -1\r\n"),
		"length zeros":          sale("Host: x\r\nAuthorization: Bearer " + p.tok + "\r\nContent-Length: 000" + cl + "\r\n"),
		"length empty":          sale("Host: x\r\nAuthorization: Bearer " + p.tok + "\r\nContent-Length:\r\n"),
		"length short":          sale("Host: x\r\nAuthorization: Bearer " + p.tok + "\r\nContent-Length: 10\r\n"),
		"length huge":           sale("Host: x\r\nAuthorization: Bearer " + p.tok + "\r\nContent-Length: 99999999999999999999\r\n"),
		"length over limit":     sale("Host: x\r\nAuthorization: Bearer " + p.tok + "\r\nContent-Length: 2000000\r\n"),
		"no host":               sale("Authorization: Bearer " + p.tok + "\r\nContent-Length: " + cl + "\r\n"),
		"two hosts":             sale("Host: x\r\nHost: y\r\nAuthorization: Bearer " + p.tok + "\r\nContent-Length: " + cl + "\r\n"),
		"empty host":            sale("Host:\r\nAuthorization: Bearer " + p.tok + "\r\nContent-Length: " + cl + "\r\n"),
		"bad host":              sale("Host: a b\r\nAuthorization: Bearer " + p.tok + "\r\nContent-Length: " + cl + "\r\n"),
		"host with port":        sale("Host: [::1]:8080\r\nAuthorization: Bearer " + p.tok + "\r\nContent-Length: " + cl + "\r\n"),
		"query":                 strings.Replace(sale(std), "sales HTTP", "sales?x=1 HTTP", 1),
		"escape":                strings.Replace(sale(std), "/sales HTTP", "/%73ales HTTP", 1),
		"trailing slash":        strings.Replace(sale(std), "sales HTTP", "sales/ HTTP", 1),
		"double slash":          strings.Replace(sale(std), "/api/v2", "//api/v2", 1),
		"dot segment":           strings.Replace(sale(std), "/api/v2", "/api/./v2", 1),
		"absolute form":         strings.Replace(sale(std), "/api/v2", "http://x/api/v2", 1),
		"method case":           strings.Replace(sale(std), "POST", "post", 1),
		"GET":                   "GET /api/v2/outlet/sales HTTP/1.1\r\n" + std + "\r\n",
		"PUT":                   strings.Replace(sale(std), "POST", "PUT", 1),
		"HTTP/1.0":              strings.Replace(sale(std), "HTTP/1.1", "HTTP/1.0", 1),
		"HTTP/1.0 keepalive":    strings.Replace(sale(std+"Connection: keep-alive\r\n"), "HTTP/1.1", "HTTP/1.0", 1),
		"HTTP/2.0":              strings.Replace(sale(std), "HTTP/1.1", "HTTP/2.0", 1),
		"two spaces":            strings.Replace(sale(std), "POST ", "POST  ", 1),
		"connection close":      sale(std + "Connection: close\r\n"),
		"connection keep":       sale(std + "Connection: keep-alive\r\n"),
		"connection Keep":       sale(std + "connection: Keep-Alive\r\n"),
		"connection keeps":      sale(std + "Connection: keep-alive, , keep-alive\r\n"),
		"connection empty":      sale(std + "Connection:\r\n"),
		"connection keep+close": sale(std + "Connection: keep-alive, close\r\n"),
		"connection two":        sale(std + "Connection: keep-alive\r\nConnection: close\r\n"),
		"upgrade":               sale(std + "Connection: Upgrade\r\nUpgrade: websocket\r\n"),
		"expect":                sale(std + "Expect: 100-continue\r\n"),
		"expect other":          sale(std + "Expect: something\r\n"),
		"pragma":                sale(std + "Pragma: no-cache\r\n"),
		"chunked": "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + p.tok +
			"\r\nTransfer-Encoding: chunked\r\n\r\n" + strconv.FormatInt(int64(len(b)), 16) + "\r\n" + b + "\r\n0\r\n\r\n",
		"chunked and length": "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + p.tok +
			"\r\nContent-Length: " + cl + "\r\nTransfer-Encoding: chunked\r\n\r\n" + strconv.FormatInt(int64(len(b)), 16) + "\r\n" + b + "\r\n0\r\n\r\n",
		"bare LF":            strings.ReplaceAll(sale(std), "\r\n", "\n"),
		"bare LF in one":     strings.Replace(sale(std), "Host: x\r\n", "Host: x\n", 1),
		"folded":             sale(std + "X-A: a\r\n b\r\n"),
		"leading space":      "POST /api/v2/outlet/sales HTTP/1.1\r\n Host: x\r\n" + std + "\r\n" + b,
		"space before colon": sale(std + "X-A : a\r\n"),
		"empty name":         sale(std + ": a\r\n"),
		"no colon":           sale(std + "X-A\r\n"),
		"bad name":           sale(std + "X(A): a\r\n"),
		"NUL in line":        sale(std + "X-A: \x00\r\n"),
		"big header":         sale(std + "Cookie: " + strings.Repeat("c", 6000) + "\r\n"),
		"huge header":        sale(std + "Cookie: " + strings.Repeat("c", 70<<10) + "\r\n"),
		"pipelined two":      sale(std) + sale(std),
		"pipelined other":    sale(std) + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
		"other then sale":    "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + sale(std),
		"garbage after":      sale(std) + "garbage\r\n\r\n",
		"body longer":        sale(std) + "xx",
		"healthz":            "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
		"garbage":            "garbage\r\n\r\n",
		"empty line first":   "\r\n" + sale(std),
		// net/http skips up to 4 CR or LF bytes before the request after a POST.
		"sale CRLF sale":           sale(std) + "\r\n" + sale(std),
		"sale LF sale":             sale(std) + "\n" + sale(std),
		"sale CRLFCRLF healthz":    sale(std) + "\r\n\r\n" + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
		"sale CRLF read":           sale(std) + "\r\n" + "GET /api/v2/outlets/11000017 HTTP/1.1\r\nHost: x\r\n\r\n",
		"sale 3 CRLF sale":         sale(std) + "\r\n\r\n\r\n" + sale(std),
		"sale CR CR CR LF LF sale": sale(std) + "\r\r\r\n\n" + sale(std),
		"sale CRLF":                sale(std) + "\r\n",
	}
}

// TestLeanAsNetHTTP: every request of the table gets the same bytes from
// the lean path as from net/http alone (but the Date and generated
// request IDs), and both leave the connection open or close it alike.
func TestLeanAsNetHTTP(t *testing.T) {
	p := newLeanPair(t, nil)
	compareAsNetHTTP(t, p, leanCases(p), 300*time.Millisecond, normalize)
	t.Cleanup(func() {
		if n, _ := p.ll.Counts(); n == 0 {
			t.Errorf("the lean path answered nothing")
		}
	})
}

// compareAsNetHTTP sends each request of cases, in parallel subtests, to
// net/http alone and to the lean path, and fails a case whose answers
// (normalised by norm; exchange's wait) differ or whose connection one
// closes and the other keeps.
func compareAsNetHTTP(t *testing.T, p *leanPair, cases map[string]string, wait time.Duration, norm func(string) string) {
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var got [2]string
			var closed [2]bool
			var wg sync.WaitGroup
			for i, addr := range []string{p.plain, p.lean} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i], closed[i] = exchange(t, addr, req, wait)
				}()
			}
			wg.Wait()
			a, b := norm(got[0]), norm(got[1])
			if a != b || closed[0] != closed[1] {
				t.Errorf("net/http (closed %v):\n%.3000q\nlean (closed %v):\n%.3000q", closed[0], a, closed[1], b)
			}
			if a == "" && !closed[0] {
				t.Logf("no answer within the wait")
			}
		})
	}
}

// TestLeanKeepAlive: sales on one connection stay on the lean path, and a
// request it does not take hands the connection (and what follows) to
// net/http.
func TestLeanKeepAlive(t *testing.T) {
	p := newLeanPair(t, nil)
	c, err := net.Dial("tcp", p.lean)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	sale := p.saleRequest()
	do := func(req string, want int) { t.Helper(); exchangeOne(t, c, br, req, want) }
	for range 4 {
		do(sale, http.StatusCreated)
	}
	// As a browser sends it (the counter page): Connection: keep-alive.
	do(strings.Replace(sale, "Host: x\r\n", "Host: x\r\nConnection: keep-alive\r\n", 1), http.StatusCreated)
	if n, h := p.ll.Counts(); n != 5 || h != 0 {
		t.Fatalf("lean %d, handed over %d; want 5, 0", n, h)
	}
	do("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusOK)
	do(sale, http.StatusCreated)
	if n, h := p.ll.Counts(); n != 5 || h != 1 {
		t.Fatalf("lean %d, handed over %d; want 5, 1", n, h)
	}
}

// TestLeanTimeouts: a connection that sends nothing is cut at the
// read-header timeout, an idle one after a sale at the idle timeout, a
// slowloris head (a sale's first bytes, then nothing) at the read-header
// timeout counted from the hand-over, and a slow body likewise at the read
// timeout.
func TestLeanTimeouts(t *testing.T) {
	p := newLeanPair(t, func(s *http.Server) {
		s.ReadHeaderTimeout, s.ReadTimeout, s.IdleTimeout = 300*time.Millisecond, 600*time.Millisecond, 400*time.Millisecond
	})
	sale := p.saleRequest()
	cut := func(name string, first string, lo, hi time.Duration) {
		t.Helper()
		c, err := net.Dial("tcp", p.lean)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		if first != "" {
			io.WriteString(c, first)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		d := time.Since(start)
		if err != nil {
			t.Fatalf("%s: %v after %v", name, err, d)
		}
		if d < lo || d > hi {
			t.Errorf("%s: cut after %v, want %v–%v (%q)", name, d, lo, hi, b)
		}
	}
	cut("silent", "", 250*time.Millisecond, 1200*time.Millisecond)
	cut("idle after a sale", sale, 350*time.Millisecond, 1500*time.Millisecond)
	cut("slowloris head", sale[:30], 250*time.Millisecond, 1200*time.Millisecond)
	cut("slow body", sale[:len(sale)-5], 500*time.Millisecond, 1500*time.Millisecond)
}

// TestLeanShutdown: after Close, an idle lean connection is closed and
// Drain returns once the lean path holds no connection.
func TestLeanShutdown(t *testing.T) {
	p := newLeanPair(t, nil)
	c, err := net.Dial("tcp", p.lean)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sale := p.saleRequest()
	io.WriteString(c, sale)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("%v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	p.ll.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.ll.Drain(ctx); err != nil {
		t.Fatalf("drain: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection after Close: %d, %v; want EOF", n, err)
	}
}

// FuzzLeanParse: whatever the lean parser accepts, net/http reads as the
// same request (method, target and its URL's every field, host, headers,
// length, body, bytes used): sales and the public GETs.
//
//	go test ./httpapi -run '^$' -fuzz FuzzLeanParse -fuzztime 60s
func FuzzLeanParse(f *testing.F) {
	body := `{"txn_id":"t-1","buyer":"8301011000001","quantity":2}`
	std := "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
	f.Add([]byte(std))
	f.Add([]byte(std + std))
	f.Add([]byte(strings.ReplaceAll(std, "\r\n", "\n")))
	f.Add([]byte("POST /api/v2/outlet/sales HTTP/1.1\r\nhost: a:1\r\ncontent-length: 0\r\nX-A: \t b \r\n\r\n"))
	f.Add([]byte("POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"))
	f.Add([]byte("POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n"))
	// The public reads the lean path takes (GET, no body).
	for _, target := range []string{
		"/corona19-masks/v1/storesByGeo/json?lat=37.5665&lng=126.978&m=1000",
		"/corona19-masks/v1/storesByGeo/json/?lat=37%2E5&m=",
		"/corona19-masks/v1/storesByAddr/json?address=%EC%84%9C%EC%9A%B8+%EC%A4%91%EA%B5%AC",
		"/corona19-masks/v1/stores/json?", "/corona19-masks/v1/sales/json",
		"/api/v2/outlets/near?lat=1&lng=2&m=1000&limit=50&status=plenty,some",
		"/api/v2/outlets/11000017", "/api/v2/outlets/A1?x=%zz;y", "/api/v2/outlets/1%31",
	} {
		f.Add([]byte("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:1\r\nUser-Agent: publicmask-rush\r\n\r\n"))
	}
	f.Add([]byte("GET /api/v2/outlets/near?lat=1 HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nIf-None-Match: \"1-a\"\r\n\r\nGET /api/v2/outlets/a HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, _ := net.Pipe()
		defer a.Close()
		lc := &leanConn{c: a}
		used, cl, ok := lc.parse(b)
		if !ok {
			return
		}
		br := bufio.NewReader(bytes.NewReader(b))
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("lean accepted %q; net/http: %v", b, err)
		}
		got, err := io.ReadAll(req.Body)
		if err != nil {
			t.Fatalf("lean accepted %q; net/http's body: %v", b, err)
		}
		rest, _ := io.ReadAll(br)
		lr := lc.req
		lb, _ := io.ReadAll(lr.Body)
		switch {
		case req.Method != lr.Method, *req.URL != *lr.URL, req.RequestURI != lr.RequestURI,
			req.Host != lr.Host, req.ContentLength != lr.ContentLength, req.Proto != lr.Proto, req.Close:
			t.Fatalf("%q: net/http %s %s %s %q %d close=%v; lean %s %s %s %q %d", b,
				req.Method, req.URL, req.Proto, req.Host, req.ContentLength, req.Close,
				lr.Method, lr.URL, lr.Proto, lr.Host, lr.ContentLength)
		case !reflect.DeepEqual(req.Header, lr.Header):
			t.Fatalf("%q: headers: net/http %q, lean %q", b, req.Header, lr.Header)
		case string(got) != string(lb) || len(lb) != cl:
			t.Fatalf("%q: body: net/http %q, lean %q", b, got, lb)
		case len(b)-len(rest) != used:
			t.Fatalf("%q: net/http used %d bytes, lean %d", b, len(b)-len(rest), used)
		}
	})
}

// TestLeanSlowReader: a client that does not read its answer is cut at the
// handler's write deadline (http.ResponseController, as send sets it) or,
// without one, at the server's WriteTimeout; it gets only part of the
// answer.
func TestLeanSlowReader(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 32<<20)
	for _, own := range []bool{true, false} {
		p := newLeanPair(t, func(s *http.Server) { s.WriteTimeout = 300 * time.Millisecond })
		p.ll.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if own {
				http.NewResponseController(w).SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.Write(big)
		})
		c, err := net.Dial("tcp", p.lean)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
		time.Sleep(1500 * time.Millisecond) // the write deadline passes meanwhile
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := io.Copy(io.Discard, c)
		c.Close()
		if n >= int64(len(big)) {
			t.Errorf("own deadline %v: read the whole answer (%d bytes, %v): not cut", own, n, err)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("own deadline %v: connection still open after %d bytes", own, n)
		}
		if l, _ := p.ll.Counts(); l != 1 {
			t.Errorf("own deadline %v: %d requests on the lean path, want 1", own, l)
		}
	}
}

// heldSales holds the sale "t-block" until release and notes which sales
// reached the ledger.
type heldSales struct {
	instantSales
	release chan struct{}
	mu      sync.Mutex
	reached map[string]bool
}

func (l *heldSales) Sell(ctx context.Context, req ledger.SaleRequest) (*ledger.Receipt, bool, error) {
	if req.TxnID == "t-block" {
		<-l.release
	}
	l.mu.Lock()
	l.reached[req.TxnID] = true
	l.mu.Unlock()
	return l.instantSales.Sell(ctx, req)
}

// TestLeanClientGoneWithdrawsSale: a sale queued at admission whose client
// hangs up is withdrawn, never sold — on the lean path as with net/http
// (whose background read cancels the request's context).
func TestLeanClientGoneWithdrawsSale(t *testing.T) {
	for _, lean := range []bool{false, true} {
		led0, tok := saleEnv(t)
		led := &heldSales{instantSales: led0, release: make(chan struct{}), reached: map[string]bool{}}
		srv := newServer(Config{Logger: benchLogger(), OutletInFlight: 1, OutletQueue: 8}, led)
		hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 90 * time.Second, WriteTimeout: time.Minute}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var l net.Listener = ln
		var ll *LeanListener
		if lean {
			ll = srv.LeanListener(srv.Listener(ln), hs)
			l = ll
		}
		go hs.Serve(l)
		sale := func(txn string) string {
			b := `{"txn_id":"` + txn + `","buyer":"` + testenv.ID("830101", '1', 1) + `","quantity":2}`
			return "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok +
				"\r\nContent-Length: " + strconv.Itoa(len(b)) + "\r\n\r\n" + b
		}
		a, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(a, sale("t-block")) // holds the outlet's only slot
		time.Sleep(100 * time.Millisecond)
		b, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(b, sale("t-gone")) // queued behind it
		time.Sleep(150 * time.Millisecond)
		b.Close() // the counter gives up
		time.Sleep(time.Second)
		close(led.release)
		resp, err := http.ReadResponse(bufio.NewReader(a), nil)
		if err != nil {
			t.Fatalf("lean=%v: the held sale: %v", lean, err)
		}
		resp.Body.Close()
		time.Sleep(200 * time.Millisecond)
		led.mu.Lock()
		gone, held := led.reached["t-gone"], led.reached["t-block"]
		led.mu.Unlock()
		if !held || gone {
			t.Errorf("lean=%v: held sale reached the ledger %v (want true), abandoned sale %v (want false)", lean, held, gone)
		}
		if lean {
			if n, _ := ll.Counts(); n < 1 {
				t.Errorf("the lean path answered %d requests", n)
			}
		}
		a.Close()
		hs.Close()
		if ll != nil {
			ll.Close()
		}
	}
}

// TestLeanPipelinedDuringWatch: a client that sends its next request while
// a slow sale is served (the watch for the client going away reads its
// first byte) gets both answers, in order; the second from net/http.
func TestLeanPipelinedDuringWatch(t *testing.T) {
	p := newLeanPair(t, nil)
	orig := p.ll.h
	var calls atomic.Int32
	p.ll.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			time.Sleep(3 * leanWatchAfter)
		}
		orig.ServeHTTP(w, r)
	})
	c, err := net.Dial("tcp", p.lean)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sale := func(id string) string {
		return "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nX-Request-Id: " + id + "\r\nAuthorization: Bearer " + p.tok +
			"\r\nContent-Length: " + strconv.Itoa(len(p.body)) + "\r\n\r\n" + p.body
	}
	io.WriteString(c, sale("first-req"))
	time.Sleep(2 * leanWatchAfter) // the watch is reading
	io.WriteString(c, sale("second-req"))
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, id := range []string{"first-req", "second-req"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer to %s: %v", id, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 || resp.Header.Get("X-Request-Id") != id {
			t.Fatalf("answer %d with request ID %q, want 2xx for %s", resp.StatusCode, resp.Header.Get("X-Request-Id"), id)
		}
	}
	if n, h := p.ll.Counts(); n != 1 || h != 1 {
		t.Fatalf("lean %d, handed over %d; want 1, 1", n, h)
	}
}

// TestLeanFirstHeadTimeout: a connection's first head, begun on the lean
// path and handed over incomplete, is cut at ReadHeaderTimeout from the
// accept, as net/http alone cuts it — not a second timeout from the
// hand-over.
func TestLeanFirstHeadTimeout(t *testing.T) {
	const rht = 600 * time.Millisecond
	p := newLeanPair(t, func(s *http.Server) {
		s.ReadHeaderTimeout, s.ReadTimeout, s.IdleTimeout = rht, 5*time.Second, 5*time.Second
	})
	for _, addr := range []string{p.plain, p.lean} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		time.Sleep(rht * 2 / 3)
		io.WriteString(c, "P") // one byte of a head, then nothing
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.ReadAll(c)
		took := time.Since(start)
		c.Close()
		// A second timeout from the hand-over would end it at 5/3 of rht.
		if took > rht*3/2 {
			t.Errorf("%s: an incomplete first head lived %v; want about %v", addr, took, rht)
		}
	}
}

// TestLeanBlankLinesAfterPostInPieces: the CR and LF bytes net/http drops
// after a POST count over reads (the first 4 bytes of what follows the
// POST), on the lean path as on net/http alone.
func TestLeanBlankLinesAfterPostInPieces(t *testing.T) {
	p := newLeanPair(t, nil)
	sale := p.saleRequest()
	for _, tc := range []struct {
		pieces []string
		want   []int
	}{
		{[]string{sale + "\r\n", "\r\n" + sale}, []int{201, 201}},
		{[]string{sale + "\r", "\n", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"}, []int{201, 200}},
		{[]string{sale + "\r\n", "\r\n\r\n" + sale}, []int{201, 400}},
	} {
		for _, addr := range []string{p.plain, p.lean} {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			var got []int
			for i, piece := range tc.pieces {
				io.WriteString(c, piece)
				if i < len(tc.pieces)-1 {
					time.Sleep(30 * time.Millisecond)
				}
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			for range tc.want {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					break
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				got = append(got, resp.StatusCode)
			}
			c.Close()
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s, %q: answers %v, want %v", addr, tc.pieces[1:], got, tc.want)
			}
		}
	}
}

// TestLeanNoIdleTimeout: with IdleTimeout and ReadTimeout 0 a connection
// may idle longer than ReadHeaderTimeout between requests, on the lean
// path as on net/http alone (the first head's deadline does not stay).
func TestLeanNoIdleTimeout(t *testing.T) {
	const rht = 200 * time.Millisecond
	p := newLeanPair(t, func(s *http.Server) {
		s.ReadHeaderTimeout, s.ReadTimeout, s.IdleTimeout = rht, 0, 0
	})
	sale := p.saleRequest()
	for _, addr := range []string{p.plain, p.lean} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for i := range 2 {
			if i == 1 {
				time.Sleep(rht * 2)
			}
			io.WriteString(c, sale)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%s: sale %d: %v", addr, i, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("%s: sale %d: status %d", addr, i, resp.StatusCode)
			}
		}
		c.Close()
	}
}

// TestLeanWriteAnswerAllocs: an answer with a large body behind its head
// is written without an allocation (net.Buffers.WriteTo consumes its
// slice: reusing the slice allocated anyway).
func TestLeanWriteAnswerAllocs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lc := &leanConn{c: c}
	head, tail := make([]byte, 200), make([]byte, 20<<10)
	if err := lc.writeAnswer(head, tail); err != nil { // warm: the iovecs
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := lc.writeAnswer(head, tail); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations an answer, want 0", n)
	}
}

// A POST whose trailing CR/LF bytes end exactly at the end of a read: the
// next request comes in the next read and is still served lean (parsing the
// empty rest handed the connection to net/http for good).
func TestLeanBlankLinesEndingARead(t *testing.T) {
	p := newLeanPair(t, nil)
	sale := p.saleRequest()
	c, err := net.Dial("tcp", p.lean)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, piece := range []string{sale + "\r\n\r\n", sale + "\r\n", sale} {
		exchangeOne(t, c, br, piece, http.StatusCreated)
	}
	if lean, hand := p.ll.Counts(); lean != 3 || hand != 0 {
		t.Errorf("lean %d, handed over %d; want 3, 0", lean, hand)
	}
}

// The body handed over in place ends where it ends: an append to it must
// not write over the next pipelined request in the connection's buffer.
func TestLeanBodyCannotReachTheNextRequest(t *testing.T) {
	led, _ := saleEnv(t)
	srv := newServer(Config{Logger: benchLogger()}, led)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && srv.readBody(w, r, 1<<20, &bodyReservation{}) {
			hb := r.Body.(*heldBody)
			_ = append(hb.b, "XXXX"...) // a careless parser
		}
		w.Header().Set("X-Method", r.Method)
		w.WriteHeader(http.StatusCreated)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	ll := srv.LeanListener(ln, hs)
	go hs.Serve(ll)
	defer hs.Close()
	sale := "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
	got, _ := exchange(t, ln.Addr().String(), sale+sale, 300*time.Millisecond)
	if n := strings.Count(got, "X-Method: POST"); n != 2 {
		t.Errorf("want two answers to POSTs, got:\n%s", got)
	}
}
