package httpapi

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// stallBody gives n bytes, then blocks until release is closed, then ends.
// It counts the bytes read from it.
type stallBody struct {
	n       int
	read    atomic.Int64
	release chan struct{}
}

func (b *stallBody) Read(p []byte) (int, error) {
	if left := b.n - int(b.read.Load()); left > 0 {
		k := min(left, len(p))
		for i := range p[:k] {
			p[i] = 'a'
		}
		b.read.Add(int64(k))
		return k, nil
	}
	<-b.release
	return 0, io.EOF
}

func (h *harness) bodyHeld(class string) float64 {
	var m dto.Metric
	if err := h.srv.metrics.bodyBytes.WithLabelValues(class).Write(&m); err != nil {
		h.t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// Bodies read before admission are held under their class's budget: while
// the budget is full, another large body waits at most the queue timeout,
// then 503 overloaded with Retry-After; the bytes held never exceed the
// budget; a small body (a sale) never waits for it; everything held is
// given back when the requests end. On main, every body was read whole,
// whatever the sum (BENCHMARKS.md, audit40a: 30 imports of 32 MiB, 1.66 GB).
func TestBodyBudget(t *testing.T) {
	const limit, budget = 1 << 20, 1<<20 + 1<<19
	h := newHarness(t, Config{ImportMaxBytes: limit, AdminBodyBudget: budget, QueueTimeout: 300 * time.Millisecond})
	release := make(chan struct{})
	type answer struct {
		code  int
		retry string
	}
	answers := make(chan answer, 5)
	for range 5 {
		// Each sends 400 KiB (a buffer of 512 KiB) and stalls: three fit
		// in the budget, five do not.
		body := &stallBody{n: 400 << 10, release: release}
		go func() {
			req := httptest.NewRequest("PUT", "/api/v2/admin/outlets", body)
			req.ContentLength = -1 // as chunked: reserved as it grows
			req.Header.Set("Authorization", "Bearer admin")
			rec := httptest.NewRecorder()
			h.h.ServeHTTP(rec, req)
			answers <- answer{rec.Code, rec.Header().Get("Retry-After")}
		}()
	}
	var got []answer
	deadline := time.After(5 * time.Second)
wait:
	for {
		if held := h.bodyHeld(ClassAdmin); held > budget {
			t.Fatalf("%v body bytes held, budget %d", held, budget)
		}
		select {
		case a := <-answers:
			got = append(got, a)
			break wait
		case <-deadline:
			t.Fatal("no body was refused while the budget was full")
		case <-time.After(2 * time.Millisecond):
		}
	}
	if got[0].code != 503 || got[0].retry == "" {
		t.Errorf("first answer while the others stall: %d Retry-After %q; want 503 with Retry-After", got[0].code, got[0].retry)
	}
	// Meanwhile a sale's body is read and served at once.
	if rec := h.do("POST", "/api/v2/outlet/sales", "tokA", `{"txn_id":"t1","buyer":"8303151234567","quantity":1}`); rec.Code == 503 {
		t.Errorf("a sale waited for the admin bodies' budget: %d %s", rec.Code, rec.Body)
	}
	if held := h.bodyHeld(ClassAdmin); held == 0 || held > budget {
		t.Errorf("%v body bytes held while bodies stall, budget %d", held, budget)
	}
	close(release)
	for len(got) < 5 {
		got = append(got, <-answers)
	}
	served := 0
	for _, a := range got {
		if a.code != 503 {
			served++
		}
	}
	if served == 0 || served > 3 {
		t.Errorf("answers %v: want one to three bodies served (three fit), the rest 503", got)
	}
	if held := h.bodyHeld(ClassAdmin); held != 0 {
		t.Errorf("%v body bytes still held after every request ended", held)
	}
}

// A body that says it is over its route's limit is refused (413) before a
// byte of it is read, and a request whose token is refused never has its
// body read either.
func TestBodyNotReadWhenRefused(t *testing.T) {
	h := newHarness(t, Config{ImportMaxBytes: 1 << 20})
	for _, c := range []struct {
		name, token string
		size        int64
		status      int
	}{
		{"over the limit", "admin", 2 << 20, 413},
		{"forged token", "forged", 1 << 20, 401},
		{"no token", "", 1 << 20, 401},
		{"outlet token on an admin route", "tokA", 1 << 20, 403},
	} {
		b := &stallBody{n: int(c.size), release: make(chan struct{})}
		close(b.release)
		req := httptest.NewRequest("PUT", "/api/v2/admin/outlets", b)
		req.ContentLength = c.size
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		rec := httptest.NewRecorder()
		h.h.ServeHTTP(rec, req)
		if rec.Code != c.status || b.read.Load() != 0 {
			t.Errorf("%s: %d, %d bytes read; want %d and none read", c.name, rec.Code, b.read.Load(), c.status)
		}
	}
}

// readBudgeted reads bodies of every length, said or not, as they were sent,
// and holds no more than twice a body's length of the budget.
func TestReadBudgeted(t *testing.T) {
	for _, n := range []int{0, 1, bodyFree - 1, bodyFree, bodyFree + 1, 2 * bodyFree, 100_000, 1 << 20, 1<<20 + 1, 3 << 20} {
		for _, said := range []bool{true, false} {
			src := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
			size := int64(-1)
			if said {
				size = int64(n)
			}
			const limit = 2 << 20
			b := newBodyBudget(limit+1, time.Second, testGauge(), testCounter())
			res := bodyReservation{b: b}
			got, err := readBudgeted(context.Background(), io.LimitReader(strings.NewReader(string(src)), limit+1), size, limit, &res)
			if err != nil {
				t.Fatalf("%d bytes (said %v): %v", n, said, err)
			}
			want := src[:min(n, limit+1)]
			if !bytes.Equal(got, want) {
				t.Fatalf("%d bytes (said %v): read %d bytes, not what was sent", n, said, len(got))
			}
			if res.n != max(0, int64(cap(got))-bodyFree) || res.n > max(0, 2*int64(len(got))) {
				t.Errorf("%d bytes (said %v): %d reserved for a buffer of %d", n, said, res.n, cap(got))
			}
			res.release()
			if !b.sem.TryAcquire(limit + 1) {
				t.Errorf("%d bytes (said %v): budget not given back", n, said)
			}
		}
	}
}

// A client that gives up while its body waits for room is let go at once.
func TestBodyBudgetCancel(t *testing.T) {
	b := newBodyBudget(100, time.Minute, testGauge(), testCounter())
	hold := bodyReservation{b: b}
	if err := hold.grow(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	res := bodyReservation{b: b}
	done := make(chan error)
	go func() { done <- res.grow(ctx, 10) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wait did not end with the client")
	}
	hold.release()
	res.release()
	if !b.sem.TryAcquire(100) {
		t.Error("budget not given back")
	}
}

func testGauge() prometheus.Gauge { return prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"}) }
func testCounter() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: "c"})
}
