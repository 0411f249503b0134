package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// bigPublic answers every public request with a body of n bytes.
func bigPublic(n int) http.Handler {
	body := []byte(strings.Repeat("x", n))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if bw, ok := w.(BodyWriter); ok && r.URL.Query().Get("shared") == "1" {
			bw.WriteBody(body, false, nil)
			return
		}
		w.Write(body)
	})
}

// A client that pipelines requests and never reads its answers holds no
// public slot: with one slot, another client is still served.
func TestSlowReaderHoldsNoSlot(t *testing.T) {
	h := newHarness(t, Config{Public: bigPublic(4 << 20), PublicInFlight: 1, PublicQueue: 1})
	srv := httptest.NewServer(h.h)
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Small receive buffer: the 4 MiB answer cannot fit in the kernel.
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	for range 4 {
		fmt.Fprintf(c, "GET /api/v2/summary HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	// The server is now blocked writing to c. Another client gets 200s.
	waitFor(t, "the slow reader's answer to be under way", func() bool { return h.srv.held.Load() > 0 })
	for range 5 {
		resp, err := srv.Client().Get(srv.URL + "/api/v2/summary")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("ordinary client got %d while a slow reader was being written to", resp.StatusCode)
		}
	}
	// The slow reader still gets its answer when it reads.
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.CopyN(io.Discard, resp.Body, 64<<10)
	if resp.StatusCode != 200 || resp.ContentLength != 4<<20 || n != 64<<10 {
		t.Fatalf("slow reader got %d, length %d, read %d bytes", resp.StatusCode, resp.ContentLength, n)
	}
}

// Bodies made for one response count against MaxHeldBytes while they are
// written; beyond the cap public requests are shed. Shared bodies do not
// count.
func TestHeldBytesCap(t *testing.T) {
	h := newHarness(t, Config{Public: bigPublic(16 << 20), MaxHeldBytes: 16 << 20})
	srv := httptest.NewServer(h.h)
	defer srv.Close()
	c := holdAnswer(t, h, srv, 16<<20)
	defer c.Close()

	get := func(q string) int { return getStatus(t, srv.Client(), srv.URL+"/api/v2/summary"+q) }
	if got := get(""); got != 503 {
		t.Fatalf("over the held-bytes cap: %d, want 503", got)
	}
	if got := h.metric(`publicmask_http_shed_total{class="public"}`); got != 1 {
		t.Errorf("shed_total = %v, want 1", got)
	}
	c.Close()
	waitFor(t, "the held bytes to be released", func() bool { return h.srv.held.Load() == 0 })
	if got := get("?shared=1"); got != 200 {
		t.Fatalf("after release: %d", got)
	}
}

// holdAnswer asks for the summary on a connection that does not read, and
// waits until its answer holds n bytes. The caller closes the connection
// before the server (srv.Close waits for it).
func holdAnswer(t *testing.T, h *harness, srv *httptest.Server, n int64) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	fmt.Fprintf(c, "GET /api/v2/summary HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, "a held answer", func() bool { return h.srv.held.Load() >= n })
	return c
}

// getStatus GETs url, reads the body and returns the status.
func getStatus(t *testing.T, cl *http.Client, url string) int {
	t.Helper()
	resp, err := cl.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestWriteTimeoutScales(t *testing.T) {
	if a, b := writeTimeout(100), writeTimeout(1<<20); a < writeFloor || a > writeFloor+time.Second || b <= a+time.Minute || b > writeCeiling {
		t.Fatalf("writeTimeout(100)=%v writeTimeout(10MiB)=%v", a, b)
	}
	if writeTimeout(1<<40) != writeCeiling {
		t.Fatal("no ceiling")
	}
}

// A handler's output is sent after the slot is released, with its status,
// headers and a Content-Length.
func TestHeldResponseKeepsStatusAndHeaders(t *testing.T) {
	h := newHarness(t, Config{Public: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Test", "1")
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte("ab"))
		w.(http.Flusher).Flush()
		w.Write([]byte("cd"))
	})})
	rec := h.do("GET", "/api/v2/summary", "", "")
	if rec.Code != http.StatusTeapot || rec.Body.String() != "abcd" || rec.Header().Get("X-Test") != "1" ||
		rec.Header().Get("Content-Length") != "4" || rec.Header().Get("X-Request-ID") == "" {
		t.Fatalf("got %d %q %v", rec.Code, rec.Body, rec.Header())
	}
}

// The counter page and everything under /outlet/ are outlet traffic: a
// public flood that fills every public slot does not refuse them.
func TestCounterPageIsOutletClass(t *testing.T) {
	pub := newBlockingPublic()
	pages := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/static/") {
			pub.ServeHTTP(w, r)
			return
		}
		w.Write([]byte("page " + r.URL.Path))
	})
	h := newHarness(t, Config{Public: pub, Pages: pages, PublicInFlight: 1, PublicQueue: 1, PublicWait: time.Millisecond})
	held := h.async("GET", "/api/v2/summary", "")
	<-pub.entered
	if rec := h.do("GET", "/static/app.js", "", ""); rec.Code != 503 {
		t.Fatalf("public asset with the public class full: %d, want 503", rec.Code)
	}
	for _, p := range []string{"/outlet", "/outlet/", "/outlet/app.js", "/outlet/sw.js"} {
		rec := h.do("GET", p, "", "")
		if rec.Code != 200 || rec.Body.String() != "page "+p {
			t.Errorf("%s with the public class full: %d %q", p, rec.Code, rec.Body)
		}
	}
	close(pub.release)
	<-held
	if !strings.Contains(h.logs.String(), `"route":"GET /outlet/","path":"/outlet/sw.js","class":"outlet"`) {
		t.Errorf("/outlet/sw.js not logged as outlet class: %s", h.logs)
	}
}

// Live streams per client address are capped; other addresses are not
// affected.
func TestStreamsPerClient(t *testing.T) {
	release := make(chan struct{})
	var entered sync.WaitGroup
	stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Done()
		<-release
	})
	h := newHarness(t, Config{Public: stream, StreamsPerClient: 3})
	get := func(remote string) <-chan *httptest.ResponseRecorder {
		ch := make(chan *httptest.ResponseRecorder, 1)
		req := httptest.NewRequest("GET", "/api/v2/stream?lat=37.5&lng=127", nil)
		req.RemoteAddr = remote
		go func() {
			rec := httptest.NewRecorder()
			h.h.ServeHTTP(rec, req)
			ch <- rec
		}()
		return ch
	}
	var open []<-chan *httptest.ResponseRecorder
	entered.Add(3)
	for i := range 3 {
		open = append(open, get(fmt.Sprintf("[2001:db8::%d]:1", i+1))) // one /64
	}
	entered.Wait()
	rec := <-get("[2001:db8::99]:1")
	if code := errorOf(t, rec, 429); code != "rate_limited" {
		t.Fatalf("4th stream of one /64: %s", code)
	}
	entered.Add(1)
	other := get("192.0.2.1:1")
	entered.Wait() // another client still gets its stream
	if got := h.metric(`publicmask_http_rate_limited_total{class="stream"}`); got != 1 {
		t.Errorf("rate_limited_total{stream} = %v", got)
	}
	close(release)
	for _, ch := range append(open, other) {
		if rec := <-ch; rec.Code != 200 {
			t.Errorf("stream answered %d", rec.Code)
		}
	}
	// The closed streams gave their places back.
	waitFor(t, "stream counts released", func() bool {
		h.srv.streams.mu.Lock()
		defer h.srv.streams.mu.Unlock()
		return len(h.srv.streams.n) == 0
	})
}

// A flood of refusals is logged as at most one line per second per class,
// with a count; every refusal is still counted in the metrics.
func TestRefusalsLoggedBySampling(t *testing.T) {
	pub := newBlockingPublic()
	h := newHarness(t, Config{Public: pub, PublicInFlight: 1, PublicQueue: 1, PublicWait: time.Millisecond})
	held := h.async("GET", "/api/v2/summary", "")
	<-pub.entered
	for range 200 {
		h.do("GET", "/api/v2/summary", "", "")
	}
	close(pub.release)
	<-held
	shed := h.metric(`publicmask_http_shed_total{class="public"}`)
	if shed < 150 {
		t.Fatalf("shed_total = %v, want most of 200", shed)
	}
	lines := strings.Count(h.logs.String(), `"refusal":"overloaded"`)
	if lines < 1 || lines > 2 {
		t.Fatalf("%d sampled lines for %v refusals in well under 2 s:\n%s", lines, shed, h.logs)
	}
	if n := strings.Count(h.logs.String(), `"status":503`); n != 0 {
		t.Errorf("%d refusals logged one by one", n)
	}

	l := newShedLog(h.srv.log)
	t0 := time.Unix(100, 0)
	ctx := context.Background()
	if !l.note(ctx, "public", "x", t0) || l.note(ctx, "public", "x", t0.Add(500*time.Millisecond)) ||
		!l.note(ctx, "outlet", "x", t0.Add(500*time.Millisecond)) || !l.note(ctx, "public", "x", t0.Add(1001*time.Millisecond)) {
		t.Error("sampling is not once per second per class")
	}
}

// Request IDs and txn_ids holding a registration number are refused (the
// ID replaced, the txn_id answered 400); a logged path has it masked.
func TestRegistrationNumbersKeptOutOfLogs(t *testing.T) {
	h := newHarness(t, Config{})
	req := httptest.NewRequest("GET", "/healthz", nil)
	req.Header.Set("X-Request-ID", "req-8303151234561")
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Request-ID"); strings.Contains(got, "8303151234561") {
		t.Errorf("request ID with a registration number kept: %q", got)
	}
	req = httptest.NewRequest("GET", "/healthz", nil)
	req.Header.Set("X-Request-ID", "req-1764500000123") // a timestamp: fine
	rec = httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Request-ID"); got != "req-1764500000123" {
		t.Errorf("request ID with a timestamp replaced: %q", got)
	}
	h.do("GET", "/api/v2/outlets/830315-1234561/x", "", "")
	if strings.Contains(h.logs.String(), "1234561") {
		t.Errorf("registration number in the log: %s", h.logs)
	}
	rec = h.do("POST", "/api/v2/outlet/sales", "tokA", `{"txn_id":"t-8303151234561","buyer":"8303151234561","quantity":1}`)
	if code := errorOf(t, rec, 400); code != "bad_request" {
		t.Errorf("txn_id with a registration number: %s", code)
	}
	rec = h.do("POST", "/api/v2/outlet/sales", "tokA", `{"txn_id":"t-1764500000123","buyer":"8303151234561","quantity":1}`)
	if rec.Code != 201 && rec.Code != 200 {
		t.Errorf("txn_id with a timestamp refused: %d %s", rec.Code, rec.Body)
	}
}

// One client's slow answers count against its own share first: that client
// is refused (429), another client is served.
func TestHeldBytesPerClient(t *testing.T) {
	h := newHarness(t, Config{Public: bigPublic(8 << 20), MaxHeldBytes: 1 << 30, MaxHeldPerClient: 1 << 20})
	srv := httptest.NewServer(h.h)
	defer srv.Close()
	defer holdAnswer(t, h, srv, 8<<20).Close()

	getFrom := func(local string) int {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		cl := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		return getStatus(t, cl, srv.URL+"/api/v2/summary?shared=1")
	}
	if got := getFrom("127.0.0.1"); got != 429 {
		t.Errorf("the slow client's next request: %d, want 429", got)
	}
	if got := getFrom("127.0.0.2"); got != 200 {
		t.Errorf("another client: %d, want 200", got)
	}
}
