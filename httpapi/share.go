package httpapi

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/ledger"
)

// outletShares gives each outlet token its own line in front of the outlet
// gate (DESIGN.md §2 Isolation): at most share of one outlet's requests are
// inside the gate, running or queued, at once; the outlet's others wait
// their turn in its own line, at most wait of them and for at most the
// queue timeout. So a dishonest insider with a valid token who opens a
// thousand connections fills its own line, not the gate's FIFO queue that
// every other counter waits in, and a burst from one till (or from the
// tills of a mart that share a token) is served in order, not refused.
//
// Nearly every sale's outlet has no other request in flight (the rush's
// 512 workers over 26,263 outlets), so the common path takes no lock and
// touches no map: each outlet has a word in a dense table indexed by the
// token cache's interned index of its code (ledger.OutletRef), and a
// request below its outlet's share is one compare-and-swap of that word in,
// one out. A map of lines under a mutex, put and dropped each request, was
// ~1.2% of the server's CPU at capacity (39th session's profile). Only an
// outlet whose share is in use and whose next request must wait goes to
// the mutex and its FIFO line (outletLine).
type outletShares struct {
	share   uint64
	wait    int
	timeout time.Duration
	waiting prometheus.Gauge // all lines' waiting requests
	refs    shareTable       // by OutletRef
	own     shareTable       // by an index of codes, for an outlet without a ref

	mu    sync.Mutex
	lines map[lineKey]*outletLine // outlets with a request waiting
	spare []*outletLine           // records of dropped lines, for reuse
	codes map[string]uint32       // own's indices (1, 2, …)

	queued func(lineKey) // tests: called under mu as a request joins a line
}

// A word of the table: the outlet's admitted requests (running or queued in
// the gate), plus lineWaits while its line holds a waiter. With that bit
// set the word is ≥ share, so no request takes the fast way in (none passes
// the waiters) and every release goes to the mutex to hand its place on
// (none is lost): the bit is set and cleared only under the mutex, and the
// count does not change while it is set except under the mutex.
const lineWaits = 1 << 63

// lineKey names a line: an OutletRef, or ownKey|index for an own index.
type lineKey uint64

const ownKey lineKey = 1 << 32

// outletLine is one outlet's waiting requests, first come first served (a
// waiter's channel is closed when a place passes to it).
type outletLine struct {
	waiters []chan struct{}
}

func newOutletShares(share, wait int, timeout time.Duration, waiting prometheus.Gauge) *outletShares {
	return &outletShares{share: uint64(max(share, 1)), wait: wait, timeout: timeout, waiting: waiting,
		lines: make(map[lineKey]*outletLine), codes: make(map[string]uint32)}
}

var errOutletShare = publicmask.Errorf(publicmask.ERateLimited, "too many requests of this outlet at once; retry after the time in Retry-After")

// word is the outlet's word and line key: by ref, or — for a ledger that
// gave none (the real one always does: ledger.NoteActivity interns the code
// of a token it read from the store) — by an index this share gives the
// code, so such an outlet is still limited, in its own table.
func (o *outletShares) word(ref ledger.OutletRef, outlet string) (*atomic.Uint64, lineKey) {
	if ref != 0 {
		return o.refs.word(uint32(ref)), lineKey(ref)
	}
	o.mu.Lock()
	i, ok := o.codes[outlet]
	if !ok {
		i = uint32(len(o.codes) + 1)
		o.codes[strings.Clone(outlet)] = i
	}
	o.mu.Unlock()
	return o.own.word(i), ownKey | lineKey(i)
}

// acquire takes a place in the share of the outlet (ref, or outlet's code
// when ref is 0), waiting for one when the share is in use. The error is
// errOutletShare when the line is full, errOverloaded when the wait timed
// out, ctx.Err() when the client gave up; without an error the caller must
// release.
func (o *outletShares) acquire(ctx context.Context, ref ledger.OutletRef, outlet string) error {
	w, key := o.word(ref, outlet)
	for {
		n := w.Load()
		if n >= o.share { // full, or others wait
			break
		}
		if w.CompareAndSwap(n, n+1) {
			return nil
		}
	}
	o.mu.Lock()
	for {
		n := w.Load()
		if n < o.share { // a place came back meanwhile, and no one waits
			if w.CompareAndSwap(n, n+1) {
				o.mu.Unlock()
				return nil
			}
			continue
		}
		if n&lineWaits != 0 { // behind the waiters
			break
		}
		if o.wait <= 0 {
			o.mu.Unlock()
			return errOutletShare
		}
		// The first waiter: from now on every release comes to the mutex.
		// Set only from the word read, so a release that slipped in
		// between (a place free again) is seen by the next round.
		if w.CompareAndSwap(n, n|lineWaits) {
			break
		}
	}
	l := o.lines[key]
	if l == nil {
		if n := len(o.spare); n > 0 {
			l = o.spare[n-1]
			o.spare = o.spare[:n-1]
		} else {
			l = &outletLine{}
		}
		o.lines[key] = l
	}
	if len(l.waiters) >= o.wait { // only with others waiting: the bit stays
		o.mu.Unlock()
		return errOutletShare
	}
	ready := make(chan struct{})
	l.waiters = append(l.waiters, ready)
	if o.queued != nil {
		o.queued(key)
	}
	o.mu.Unlock()
	o.waiting.Inc()
	defer o.waiting.Dec()
	t := time.NewTimer(o.timeout)
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
		// Still waiting: out of the line (its channel is in no other
		// line, so l is still key's).
		l.waiters = slices.Delete(l.waiters, i, i+1)
		o.dropIfEmpty(w, key, l)
		o.mu.Unlock()
		return err
	}
	o.mu.Unlock()
	// A place passed to it as the wait ended: pass it on.
	o.release(ref, outlet)
	return err
}

// release gives a place back: to the first request waiting in the outlet's
// line, or to the gate.
func (o *outletShares) release(ref ledger.OutletRef, outlet string) {
	w, key := o.word(ref, outlet)
	for {
		n := w.Load()
		if n&lineWaits != 0 {
			break
		}
		if w.CompareAndSwap(n, n-1) {
			return
		}
	}
	o.mu.Lock()
	if w.Load()&lineWaits == 0 {
		// The line emptied (its waiters timed out) before the lock.
		w.Add(^uint64(0))
		o.mu.Unlock()
		return
	}
	l := o.lines[key]
	close(l.waiters[0]) // the place is the first waiter's: the count stays
	l.waiters = slices.Delete(l.waiters, 0, 1)
	o.dropIfEmpty(w, key, l)
	o.mu.Unlock()
}

// dropIfEmpty drops key's line l if no request waits in it, and lets the
// fast way in again (o.mu held, the bit set).
func (o *outletShares) dropIfEmpty(w *atomic.Uint64, key lineKey, l *outletLine) {
	if len(l.waiters) > 0 {
		return
	}
	w.Store(w.Load() &^ lineWaits) // the count does not move while the bit is set
	delete(o.lines, key)
	o.spare = append(o.spare, l)
}

// shareTable is a word an outlet, in chunks made when an outlet of their
// range first comes (the indices are the intern table's, dense and never
// reused); a chunk holds no pointer and never moves.
type shareTable struct {
	grow   sync.Mutex
	chunks atomic.Pointer[[]*[shareChunk]atomic.Uint64] // copied on growth
}

const shareChunk = 1024

func (t *shareTable) word(i uint32) *atomic.Uint64 {
	c := int(i / shareChunk)
	if p := t.chunks.Load(); p != nil && c < len(*p) {
		if ch := (*p)[c]; ch != nil {
			return &ch[i%shareChunk]
		}
	}
	t.grow.Lock()
	defer t.grow.Unlock()
	var cs []*[shareChunk]atomic.Uint64
	if p := t.chunks.Load(); p != nil {
		cs = *p
	}
	if c < len(cs) && cs[c] != nil {
		return &cs[c][i%shareChunk]
	}
	next := make([]*[shareChunk]atomic.Uint64, max(len(cs), c+1))
	copy(next, cs)
	next[c] = new([shareChunk]atomic.Uint64)
	t.chunks.Store(&next)
	return &next[c][i%shareChunk]
}
