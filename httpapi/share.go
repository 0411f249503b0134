package httpapi

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask"
)

// outletShares gives each outlet token its own line in front of the outlet
// gate (DESIGN.md §2 Isolation): at most share of one outlet's requests are
// inside the gate, running or queued, at once; the outlet's others wait
// their turn in its own line, at most wait of them and until the
// request's admission deadline (Server.admitBy). So a dishonest insider
// with a valid token who opens a thousand connections fills its own line,
// not the gate's FIFO queue that every other counter waits in, and a burst
// from one till (or from the tills of a mart that share a token) is served
// in order, not refused.
//
// Nearly every sale's outlet has no other request in flight (the rush's
// 512 workers over 26,263 outlets), so the common path is a count under
// the mutex, with the line's record reused: no allocation a request.
type outletShares struct {
	share, wait int
	timeout     time.Duration
	waiting     prometheus.Gauge // all lines' waiting requests
	mu          sync.Mutex
	lines       map[string]*outletLine
	spare       []*outletLine // records of dropped lines, for reuse
}

// outletLine is one outlet's: how many of its requests hold a place in the
// gate, and the ones waiting for a place, first come first served (a
// waiter's channel is closed when a place passes to it).
type outletLine struct {
	admitted int
	waiters  []chan struct{}
}

func newOutletShares(share, wait int, timeout time.Duration, waiting prometheus.Gauge) *outletShares {
	return &outletShares{share: share, wait: wait, timeout: timeout, waiting: waiting, lines: make(map[string]*outletLine)}
}

var errOutletShare = publicmask.Errorf(publicmask.ERateLimited, "too many requests of this outlet at once; retry after the time in Retry-After")

// acquire takes a place in outlet's share, waiting for one when the share
// is in use, until by (zero: for the queue timeout; passed: no wait). The
// error is errOutletShare when the line is full, errOverloaded when the
// wait timed out or there was no time left to wait, ctx.Err() when the
// client gave up; without an error the caller must release.
func (o *outletShares) acquire(ctx context.Context, outlet string, by time.Time) error {
	o.mu.Lock()
	l := o.lines[outlet]
	if l == nil {
		if n := len(o.spare); n > 0 {
			l = o.spare[n-1]
			o.spare = o.spare[:n-1]
		} else {
			l = &outletLine{}
		}
		o.lines[outlet] = l
	}
	if l.admitted < o.share {
		l.admitted++
		o.mu.Unlock()
		return nil
	}
	if len(l.waiters) >= o.wait {
		o.mu.Unlock()
		return errOutletShare
	}
	wait := o.timeout
	if !by.IsZero() {
		wait = time.Until(by)
	}
	if wait <= 0 {
		// No time left to wait (the line stays: its share is full).
		o.mu.Unlock()
		return errOverloaded
	}
	ready := make(chan struct{})
	l.waiters = append(l.waiters, ready)
	o.mu.Unlock()
	o.waiting.Inc()
	defer o.waiting.Dec()
	t := time.NewTimer(wait)
	defer t.Stop()
	var err error
	select {
	case <-ready:
		return nil
	case <-t.C:
		err = errOverloaded
	case <-ctx.Done():
		err = ctx.Err()
	}
	o.mu.Lock()
	if i := slices.Index(l.waiters, ready); i >= 0 {
		// Still waiting: out of the line (whose share is full, so the
		// line stays).
		l.waiters = slices.Delete(l.waiters, i, i+1)
		o.mu.Unlock()
		return err
	}
	o.mu.Unlock()
	// A place passed to it as the wait ended: pass it on.
	o.release(outlet)
	return err
}

// release gives a place back: to the first request waiting in the line, or
// to the gate (the line's record is kept for reuse with its last place).
func (o *outletShares) release(outlet string) {
	o.mu.Lock()
	l := o.lines[outlet]
	if len(l.waiters) > 0 {
		close(l.waiters[0])
		l.waiters = slices.Delete(l.waiters, 0, 1)
	} else if l.admitted--; l.admitted == 0 {
		delete(o.lines, outlet)
		o.spare = append(o.spare, l)
	}
	o.mu.Unlock()
}
