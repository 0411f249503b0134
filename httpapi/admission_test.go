package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// blockingPublic is a public handler that holds each request until released.
type blockingPublic struct {
	entered chan struct{}
	release chan struct{}
}

func newBlockingPublic() *blockingPublic {
	return &blockingPublic{entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (b *blockingPublic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.entered <- struct{}{}
	<-b.release
	w.Write([]byte(`{}`))
}

// async runs a request in the background and delivers its recorder.
func (h *harness) async(method, path, token string) <-chan *httptest.ResponseRecorder {
	ch := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		req := httptest.NewRequest(method, path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.h.ServeHTTP(rec, req)
		ch <- rec
	}()
	return ch
}

// metric reads one sample from /metrics.
func (h *harness) metric(series string) float64 {
	h.t.Helper()
	rec := h.do("GET", "/metrics", "", "")
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				h.t.Fatal(err)
			}
			return f
		}
	}
	h.t.Fatalf("no series %s in /metrics", series)
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPublicShedImmediately(t *testing.T) {
	pub := newBlockingPublic()
	h := newHarness(t, Config{Public: pub, PublicInFlight: 2})
	var held []<-chan *httptest.ResponseRecorder
	for range 2 {
		held = append(held, h.async("GET", "/api/v2/summary", ""))
		<-pub.entered
	}
	start := time.Now()
	rec := h.do("GET", "/corona19-masks/v1/storesByGeo/json?lat=37.5&lng=127&m=1000", "", "")
	took := time.Since(start)
	if code := errorOf(t, rec, 503); code != "overloaded" {
		t.Fatalf("code %q", code)
	}
	if ra := rec.Header().Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After = %q, want 1", ra)
	}
	if took > 200*time.Millisecond {
		t.Errorf("shedding took %v; it must not wait", took)
	}
	if got := h.metric(`publicmask_http_shed_total{class="public"}`); got != 1 {
		t.Errorf("shed_total{public} = %v, want 1", got)
	}
	if got := h.metric(`publicmask_http_in_flight{class="public"}`); got != 2 {
		t.Errorf("in_flight{public} = %v, want 2", got)
	}
	// Operations endpoints are never shed.
	if rec := h.do("GET", "/healthz", "", ""); rec.Code != 200 {
		t.Errorf("healthz while saturated: %d", rec.Code)
	}
	close(pub.release)
	for _, ch := range held {
		if rec := <-ch; rec.Code != 200 {
			t.Errorf("held request: %d", rec.Code)
		}
	}
	if rec := h.do("GET", "/api/v2/summary", "", ""); rec.Code != 200 {
		t.Errorf("after release: %d", rec.Code)
	}
}

// Outlet requests beyond the outlet limit wait in their own queue and are
// served, while public requests at the same moment are shed.
func TestOutletQueuesWhilePublicSaturated(t *testing.T) {
	pub := newBlockingPublic()
	h := newHarness(t, Config{Public: pub, PublicInFlight: 1, OutletInFlight: 1, OutletQueue: 4})
	h.fake.entered = make(chan struct{}, 10)
	h.fake.block = make(chan struct{})

	pubHeld := h.async("GET", "/api/v2/summary", "")
	<-pub.entered
	errorOf(t, h.do("GET", "/api/v2/summary", "", ""), 503) // public is full

	first := h.async("GET", "/api/v2/outlet", "tokA")
	<-h.fake.entered
	second := h.async("GET", "/api/v2/outlet", "tokB")
	g := h.srv.gates[ClassOutlet]
	waitFor(t, "the second outlet request to queue", func() bool { return len(g.queue) == 1 })
	select {
	case rec := <-second:
		t.Fatalf("queued request answered early: %d %s", rec.Code, rec.Body)
	case <-time.After(20 * time.Millisecond):
	}
	close(h.fake.block)
	for i, ch := range []<-chan *httptest.ResponseRecorder{first, second} {
		if rec := <-ch; rec.Code != 200 {
			t.Errorf("outlet request %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	close(pub.release)
	<-pubHeld
}

// outletBusy starts a harness whose one outlet request is in its handler,
// blocked until h.fake.block is closed; first is its answer.
func outletBusy(t *testing.T, cfg Config) (h *harness, first <-chan *httptest.ResponseRecorder) {
	t.Helper()
	h = newHarness(t, cfg)
	h.fake.entered = make(chan struct{}, 10)
	h.fake.block = make(chan struct{})
	first = h.async("GET", "/api/v2/outlet", "tokA")
	<-h.fake.entered
	return h, first
}

func TestOutletQueueOverflow(t *testing.T) {
	h, first := outletBusy(t, Config{OutletInFlight: 1, OutletQueue: 1})
	second := h.async("GET", "/api/v2/outlet", "tokA")
	g := h.srv.gates[ClassOutlet]
	waitFor(t, "the queue to fill", func() bool { return len(g.queue) == 1 })
	start := time.Now()
	rec := h.do("GET", "/api/v2/outlet", "tokA", "")
	if code := errorOf(t, rec, 503); code != "overloaded" || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("overflow: %q Retry-After %q", code, rec.Header().Get("Retry-After"))
	}
	if time.Since(start) > 200*time.Millisecond {
		t.Errorf("a full queue must refuse at once, took %v", time.Since(start))
	}
	if got := h.metric(`publicmask_http_shed_total{class="outlet"}`); got != 1 {
		t.Errorf("shed_total{outlet} = %v", got)
	}
	close(h.fake.block)
	for _, ch := range []<-chan *httptest.ResponseRecorder{first, second} {
		if rec := <-ch; rec.Code != 200 {
			t.Errorf("%d %s", rec.Code, rec.Body)
		}
	}
}

func TestOutletQueueTimeout(t *testing.T) {
	h, first := outletBusy(t, Config{OutletInFlight: 1, OutletQueue: 1, QueueTimeout: 50 * time.Millisecond})
	start := time.Now()
	rec := h.do("GET", "/api/v2/outlet", "tokA", "")
	if code := errorOf(t, rec, 503); code != "overloaded" {
		t.Fatalf("code %q", code)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("gave up after %v, before the queue timeout", d)
	}
	close(h.fake.block)
	<-first
}

// Unauthenticated requests never take an outlet slot.
func TestAuthBeforeAdmission(t *testing.T) {
	h, first := outletBusy(t, Config{OutletInFlight: 1, OutletQueue: 1})
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest("GET", "/api/v2/outlet", nil)
			rec := httptest.NewRecorder()
			h.h.ServeHTTP(rec, req)
			if rec.Code != 401 {
				t.Errorf("unauthenticated: %d", rec.Code)
			}
		}()
	}
	wg.Wait()
	if n := len(h.srv.gates[ClassOutlet].queue); n != 0 {
		t.Errorf("queue holds %d", n)
	}
	close(h.fake.block)
	<-first
}

func TestStreamHasItsOwnLimit(t *testing.T) {
	pub := newBlockingPublic()
	h := newHarness(t, Config{Public: pub, PublicInFlight: 1, StreamInFlight: 2})
	var held []<-chan *httptest.ResponseRecorder
	for range 2 {
		held = append(held, h.async("GET", "/api/v2/stream?lat=37.5&lng=127", ""))
		<-pub.entered
	}
	// Open streams do not count against the short public reads.
	short := h.async("GET", "/api/v2/summary", "")
	<-pub.entered
	errorOf(t, h.do("GET", "/api/v2/stream?lat=37.5&lng=127", "", ""), 503)
	close(pub.release)
	for _, ch := range append(held, short) {
		if rec := <-ch; rec.Code != 200 {
			t.Errorf("%d", rec.Code)
		}
	}
	if !strings.Contains(h.logs.String(), `"class":"stream"`) {
		t.Error("stream class not logged")
	}
}
