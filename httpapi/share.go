package httpapi

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask"
)

// outletShares gives each outlet token its own line in front of the outlet
// gate (DESIGN.md §2 Isolation): at most share of one outlet's requests are
// inside the gate, running or queued, at once; the outlet's others wait
// their turn in its own line, at most wait of them and for at most the
// queue timeout. So a dishonest insider with a valid token who opens a
// thousand connections fills its own line, not the gate's FIFO queue that
// every other counter waits in, and a burst from one till (or from the
// tills of a mart that share a token) is served in order, not refused.
type outletShares struct {
	share, wait int
	timeout     time.Duration
	waiting     prometheus.Gauge // all lines' waiting requests
	mu          sync.Mutex
	lines       map[string]*outletLine
}

// outletLine is one outlet's: its places in the gate, and how many of its
// requests hold one or wait for one (the line is dropped when none do).
type outletLine struct {
	places  chan struct{}
	waiting int
	users   int
}

func newOutletShares(share, wait int, timeout time.Duration, waiting prometheus.Gauge) *outletShares {
	return &outletShares{share: share, wait: wait, timeout: timeout, waiting: waiting, lines: make(map[string]*outletLine)}
}

var errOutletShare = publicmask.Errorf(publicmask.ERateLimited, "too many requests of this outlet at once; retry after the time in Retry-After")

// acquire takes a place of outlet's line, waiting for one when its share is
// in use. The error is errOutletShare when the line is full, errOverloaded
// when the wait timed out, ctx.Err() when the client gave up.
func (o *outletShares) acquire(ctx context.Context, outlet string) (*outletLine, error) {
	o.mu.Lock()
	l := o.lines[outlet]
	if l == nil {
		l = &outletLine{places: make(chan struct{}, o.share)}
		o.lines[outlet] = l
	}
	select {
	case l.places <- struct{}{}:
		l.users++
		o.mu.Unlock()
		return l, nil
	default:
	}
	if l.waiting >= o.wait {
		o.mu.Unlock()
		return nil, errOutletShare
	}
	l.waiting++
	l.users++
	o.mu.Unlock()
	o.waiting.Inc()
	defer o.waiting.Dec()
	t := time.NewTimer(o.timeout)
	defer t.Stop()
	var err error
	select {
	case l.places <- struct{}{}:
	case <-t.C:
		err = errOverloaded
	case <-ctx.Done():
		err = ctx.Err()
	}
	o.mu.Lock()
	l.waiting--
	if err != nil {
		o.leave(outlet, l)
	}
	o.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return l, nil
}

// release gives the place back.
func (o *outletShares) release(outlet string, l *outletLine) {
	<-l.places
	o.mu.Lock()
	o.leave(outlet, l)
	o.mu.Unlock()
}

// leave counts a request out of l (o.mu held), dropping the line when it
// was the last.
func (o *outletShares) leave(outlet string, l *outletLine) {
	l.users--
	if l.users == 0 {
		delete(o.lines, outlet)
	}
}
