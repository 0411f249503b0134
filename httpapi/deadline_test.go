package httpapi

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
)

// One deadline from a request's arrival bounds all its waits (DESIGN.md
// §4: at most 2 s for admission, the answer before the counter's 3 s
// cutoff). Each stage that must wait waits until the deadline it is
// given, not for a fresh timeout of its own, and one given a deadline
// already passed refuses at once.

// took runs f and returns how long it ran.
func took(f func()) time.Duration {
	t0 := time.Now()
	f()
	return time.Since(t0)
}

func TestGateWaitsUntilDeadline(t *testing.T) {
	m := newMetrics(prometheus.NewRegistry())
	g := newGate(m, ClassOutlet, 1, 4, 5*time.Second)
	if err := g.acquire(context.Background(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	var err error
	if d := took(func() { err = g.acquire(context.Background(), time.Now().Add(-time.Millisecond)) }); err != errOverloaded || d > 50*time.Millisecond {
		t.Errorf("deadline passed: %v after %v, want overloaded at once", err, d)
	}
	if len(g.queue) != 0 {
		t.Errorf("%d left in the queue", len(g.queue))
	}
	if d := took(func() { err = g.acquire(context.Background(), time.Now().Add(150*time.Millisecond)) }); err != errOverloaded || d < 140*time.Millisecond || d > time.Second {
		t.Errorf("150 ms left: %v after %v, want overloaded after the time left, not the gate's 5 s", err, d)
	}
	// A free slot admits whatever the deadline: only waits are bounded.
	g.release()
	if err := g.acquire(context.Background(), time.Now().Add(-time.Second)); err != nil {
		t.Errorf("a free slot with the deadline passed: %v", err)
	}
}

func TestOutletShareWaitsUntilDeadline(t *testing.T) {
	waiting := prometheus.NewGauge(prometheus.GaugeOpts{Name: "w"})
	o := newOutletShares(1, 8, 5*time.Second, waiting)
	if err := o.acquire(context.Background(), "A", time.Time{}); err != nil {
		t.Fatal(err)
	}
	var err error
	if d := took(func() { err = o.acquire(context.Background(), "A", time.Now().Add(-time.Millisecond)) }); err != errOverloaded || d > 50*time.Millisecond {
		t.Errorf("deadline passed: %v after %v, want overloaded at once", err, d)
	}
	if d := took(func() { err = o.acquire(context.Background(), "A", time.Now().Add(150*time.Millisecond)) }); err != errOverloaded || d < 140*time.Millisecond || d > time.Second {
		t.Errorf("150 ms left: %v after %v, want overloaded after the time left, not the line's 5 s", err, d)
	}
	// The line is whole: its place passes to the next, and back.
	o.release("A")
	if err := o.acquire(context.Background(), "A", time.Now().Add(-time.Second)); err != nil {
		t.Errorf("a free place with the deadline passed: %v", err)
	}
	o.release("A")
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.lines) != 0 {
		t.Errorf("lines left: %v", o.lines)
	}
}

func TestBodyBudgetWaitsUntilDeadline(t *testing.T) {
	b := newBodyBudget(100, 5*time.Second, testGauge(), testCounter())
	hold := bodyReservation{b: b}
	if err := hold.grow(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	var err error
	spent := bodyReservation{b: b, by: time.Now().Add(-time.Millisecond)}
	if d := took(func() { err = spent.grow(context.Background(), 10) }); err != errBodyBudget || d > 50*time.Millisecond {
		t.Errorf("deadline passed: %v after %v, want overloaded at once", err, d)
	}
	spent.release()
	left := bodyReservation{b: b, by: time.Now().Add(150 * time.Millisecond)}
	if d := took(func() { err = left.grow(context.Background(), 10) }); err != errBodyBudget || d < 140*time.Millisecond || d > time.Second {
		t.Errorf("150 ms left: %v after %v, want overloaded after the time left, not the budget's 5 s", err, d)
	}
	left.release()
	hold.release()
	if !b.sem.TryAcquire(100) {
		t.Error("budget not given back")
	}
}

// TestStagesShareAdmissionDeadline: a request that waits in its outlet's
// line and then in the gate's queue waits QueueTimeout from its arrival
// in all, not QueueTimeout in each. tokB's request holds the one outlet
// slot; tokA's first request waits in the gate's queue; tokA's second,
// sent 150 ms later, waits in tokA's line (share 1) until the first gives
// up (its QueueTimeout), then in the gate's queue until its own deadline.
// On main: 250 ms in the line, then a fresh 400 ms in the queue (~650 ms).
func TestStagesShareAdmissionDeadline(t *testing.T) {
	const qt = 400 * time.Millisecond
	h := newHarness(t, Config{OutletInFlight: 1, OutletQueue: 4, OutletShare: 1, QueueTimeout: qt})
	h.fake.entered = make(chan struct{}, 10)
	h.fake.block = make(chan struct{})
	holder := h.async("GET", "/api/v2/outlet", "tokB")
	<-h.fake.entered
	defer func() { close(h.fake.block); <-holder }()
	g := h.srv.gates[ClassOutlet]
	a1 := h.async("GET", "/api/v2/outlet", "tokA")
	waitFor(t, "tokA's first in the queue", func() bool { return len(g.queue) == 1 })
	time.Sleep(150 * time.Millisecond)
	var rec *httptest.ResponseRecorder
	d := took(func() { rec = h.do("GET", "/api/v2/outlet", "tokA", "") })
	if code := errorOf(t, rec, 503); code != "overloaded" || d > qt+100*time.Millisecond {
		t.Errorf("line then gate: %q after %v, want overloaded within %v of its arrival", code, d, qt)
	}
	if r := <-a1; r.Code != 503 {
		t.Errorf("tokA's first: %d", r.Code)
	}
}

// dueSales notes the answer's due time each sale's context carries to the
// ledger (ledger.DueKey).
type dueSales struct {
	instantSales
	mu  sync.Mutex
	due []time.Time
}

func (l *dueSales) Sell(ctx context.Context, req ledger.SaleRequest) (*ledger.Receipt, bool, error) {
	var due time.Time
	if d, ok := ctx.Value(ledger.DueKey{}).(ledger.Due); ok {
		due = d.Due()
	}
	l.mu.Lock()
	l.due = append(l.due, due)
	l.mu.Unlock()
	return l.instantSales.Sell(ctx, req)
}

// TestSaleCarriesDue: a sale reaches the ledger with its answer due
// AnswerWithin after its arrival, on net/http's path and on the lean path.
func TestSaleCarriesDue(t *testing.T) {
	led, tok := saleEnv(t)
	d := &dueSales{instantSales: led}
	const within = 2700 * time.Millisecond
	srv := newServer(Config{Logger: benchLogger(), AnswerWithin: within}, d)
	body := `{"txn_id":"t-0000000001","buyer":"` + testenv.ID("830101", '1', 1) + `","quantity":2}`
	for _, lean := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
		var l net.Listener = ln
		var ll *LeanListener
		if lean {
			ll = srv.LeanListener(ln, hs)
			l = ll
		}
		go hs.Serve(l)
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		before := time.Now()
		req := "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok +
			"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		c.Write([]byte(req))
		resp, err := http.ReadResponse(br, nil)
		after := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c.Close()
		hs.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("lean %v: status %d", lean, resp.StatusCode)
		}
		d.mu.Lock()
		due := d.due[len(d.due)-1]
		d.mu.Unlock()
		if due.Before(before.Add(within)) || due.After(after.Add(within)) {
			t.Errorf("lean %v: due %v after the send, want %v after its arrival", lean, due.Sub(before), within)
		}
		if lean {
			if n, _ := ll.Counts(); n == 0 {
				t.Error("the sale did not take the lean path")
			}
		}
	}
}
