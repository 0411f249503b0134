package httpapi

import (
	"context"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"

	"github.com/publicmask/publicmask"
)

// A token route's body is read into memory before admission (readBody), so
// that a client sending it slowly holds only its own connection, never a
// slot. Without a bound on the sum, N clients with a valid token made the
// server hold N bodies at once: 30 admin imports of 32 MiB took the binary
// to 1.66 GB (VmHWM), one outlet token's 1,000 connections of 1 MiB to 270 MB
// (BENCHMARKS.md, audit40a). Each class with a body budget (outlet, admin)
// now reserves a body's bytes from it as they arrive, beyond the first
// bodyFree bytes of each (a sale's body, the order of a connection's own
// buffers: the sale path never waits). Over budget, a body waits for room
// until the request's admission deadline (its arrival + the queue timeout,
// which its outlet's line and the gate's queue share after), then 503
// overloaded with Retry-After, as the gates do. A body is reserved as it
// grows, not by its Content-Length, so a client trickling a large body
// holds only what it has sent, until the server's read timeout closes it.
const bodyFree = 16 << 10

// bodyBudget is one class's budget of body bytes held in memory.
type bodyBudget struct {
	sem     *semaphore.Weighted
	max     int64
	timeout time.Duration
	held    prometheus.Gauge
	shed    prometheus.Counter
}

func newBodyBudget(max int64, timeout time.Duration, held prometheus.Gauge, shed prometheus.Counter) *bodyBudget {
	return &bodyBudget{sem: semaphore.NewWeighted(max), max: max, timeout: timeout, held: held, shed: shed}
}

// errBodyBudget is the refusal of a body that found no room in time.
var errBodyBudget = publicmask.Errorf(publicmask.EOverloaded, "the server holds too many request bodies; retry shortly")

// bodyReservation is what one request holds of a budget.
type bodyReservation struct {
	b *bodyBudget
	n int64
	// by is the request's admission deadline (Server.admitBy), which its
	// outlet's line and the gate's queue share after; zero: the budget's
	// timeout from the first wait.
	by       time.Time
	deadline context.Context // the wait's bound, made at the first wait
	cancel   context.CancelFunc
}

// grow reserves n more bytes, waiting (in FIFO order, all waits of the
// request together until r.by, or at most the budget's timeout) while the
// budget is full. With no time left, it does not wait.
func (r *bodyReservation) grow(ctx context.Context, n int64) error {
	if n <= 0 {
		return nil
	}
	if r.n+n > r.b.max {
		return errBodyBudget // cannot happen with a limit ≤ the budget
	}
	if !r.b.sem.TryAcquire(n) {
		if r.deadline == nil {
			if r.by.IsZero() {
				r.deadline, r.cancel = context.WithTimeout(ctx, r.b.timeout)
			} else if time.Until(r.by) > 0 {
				r.deadline, r.cancel = context.WithDeadline(ctx, r.by)
			} else {
				r.b.shed.Inc()
				return errBodyBudget
			}
		}
		if err := r.b.sem.Acquire(r.deadline, n); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.b.shed.Inc()
			return errBodyBudget
		}
	}
	r.n += n
	r.b.held.Add(float64(n))
	return nil
}

// release gives back everything reserved.
func (r *bodyReservation) release() {
	if r.cancel != nil {
		r.cancel()
	}
	if r.n > 0 {
		r.b.sem.Release(r.n)
		r.b.held.Sub(float64(r.n))
		r.n = 0
	}
}

// readBudgeted reads body (at most limit+1 bytes, to see that it is over)
// into memory, reserving from res every byte of the buffer beyond bodyFree
// before the buffer grows to hold it. size is the request's Content-Length
// (< 0: unknown). The buffer doubles up to size, so it holds at most twice
// what was sent and the copies cost at most the body once more.
func readBudgeted(ctx context.Context, body io.Reader, size, limit int64, res *bodyReservation) ([]byte, error) {
	end := limit + 1 // the buffer's largest size
	if size >= 0 && size < end {
		end = size + 1 // one more, to see the end without growing
	}
	b := make([]byte, 0, min(end, bodyFree))
	for {
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) < cap(b) {
			continue
		}
		if int64(len(b)) >= limit+1 {
			return b, nil // over the limit: the caller says 413
		}
		c := min(2*int64(cap(b)), limit+1)
		if size >= 0 && int64(cap(b)) < size+1 {
			c = min(c, size+1) // it said how long it is
		}
		if c == int64(cap(b)) {
			c = int64(cap(b)) * 2 // longer than it said
			c = min(c, limit+1)
		}
		if err := res.grow(ctx, c-int64(cap(b))); err != nil {
			return nil, err
		}
		nb := make([]byte, len(b), c)
		copy(nb, b)
		b = nb
	}
}
