package rush

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/publicmask/publicmask"
)

// Bands in order of stock, so that "above" is a comparison.
const (
	bandEmpty = iota
	bandFew
	bandSome
	bandPlenty
	bandUnknown = -1
)

func bandOfStock(stock int) int { return bandOf(publicmask.RemainStat(stock, false, true)) }

func bandOf(stat string) int {
	switch stat {
	case publicmask.StatPlenty:
		return bandPlenty
	case publicmask.StatSome:
		return bandSome
	case publicmask.StatFew:
		return bandFew
	case publicmask.StatEmpty:
		return bandEmpty
	}
	return bandUnknown // break, null: not comparable
}

// outletState is what the rush knows of an outlet from the ledger's own
// acknowledgements: the lowest stock acknowledged so far (stock only falls
// during the rush) and when each band was first reached, which is what a
// public read made later must not contradict.
type outletState struct {
	code, token string
	lat, lng    float64

	mu        sync.Mutex
	opening   int
	minStock  int
	reachedAt [4]time.Time // first acknowledgement of a stock in band ≤ k
	sold      int          // masks acknowledged

	// The forecast's accuracy (forecast.go): sold_at of the sale that left
	// half the opening stock and of the first that left it empty, and the
	// sellout_at the public API gave at half stock.
	halfAt, soldOutAt, halfForecast time.Time
	halfRead                        bool
}

// ack records an acknowledged stock; changed says the band fell.
func (o *outletState) ack(stock, qty int, at time.Time) (changed bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sold += qty
	if stock >= o.minStock {
		return false
	}
	before := bandOfStock(o.minStock)
	o.minStock = stock
	b := bandOfStock(stock)
	for k := max(b, 0); k < len(o.reachedAt); k++ {
		if o.reachedAt[k].IsZero() {
			o.reachedAt[k] = at
		}
	}
	return b < before
}

// ghost reports whether a public read sent at t that showed band pub
// contradicts a band change acknowledged before t, and how long before.
func (o *outletState) ghost(pub int, t time.Time) (bool, time.Duration) {
	if pub <= bandEmpty {
		return false, 0
	}
	o.mu.Lock()
	at := o.reachedAt[pub-1]
	o.mu.Unlock()
	if at.IsZero() || !at.Before(t) {
		return false, 0
	}
	return true, t.Sub(at)
}

// second is one second of the run, for the time series.
type second struct {
	salesOK, salesRej, salesErr, salesDropped  atomic.Int64
	readsOK, readsErr, readsShed, readsDropped atomic.Int64
	ghostChecked, ghosts                       atomic.Int64
	sales, reads, fresh                        Hist
}

// readKind is the tally of one kind of public read.
type readKind struct {
	ok, errors, shed atomic.Int64
	lat              Hist
}

var readKinds = []string{"geo", "near", "addr", "outlet", "stores", "sales"}

// Sale attempt kinds: who stands at the counter.
const (
	kindFresh    = "fresh"     // eligible today, first purchase this week
	kindWrongDay = "wrong_day" // birth year not of today
	kindAgain    = "again"     // bought already, tries another outlet
	kindMistyped = "mistyped"  // the pharmacist mistyped the ID
)

type saleJob struct {
	due    time.Time
	kind   string
	outlet *outletState
	buyer  string
	qty    int
	txn    string
}

type readJob struct {
	due   time.Time
	kind  string
	path  string
	ghost bool // scan the answer for ghost stock
}

type ackRec struct {
	saleID, outlet string
	qty            int
}

type again struct{ buyer, outlet string }

type replayRec struct {
	token, txn, body, saleID string
	receipt                  string // the first answer's body
}

// engine is one rush in progress.
type engine struct {
	cfg       *Config
	base      string   // admin and outlet API (the first --target)
	readBase  string   // public API (--read-target, default base)
	sellBases []string // ledger nodes that take sales, round robin
	sellNext  atomic.Uint64
	rules     *dayRules
	runID     string
	start     time.Time
	end       time.Time

	salesC, readsC, probeC, streamC *http.Client
	rawSales, rawReads, rawProbes   *rawClient // sales, reads and freshness probes on plain http

	outlets []*outletState
	byCode  map[string]*outletState
	// byCode8 holds the outlets of byCode whose code is 8 bytes long (the
	// 2020 codes), keyed by those bytes: the ghost scan's look-up without
	// hashing and comparing a string (outletFor).
	byCode8 map[uint64]*outletState
	pop     *picker // outlet popularity for sales
	addrs   []string
	secs    []*second

	salesLat                                 Hist
	salesOK, salesRej, salesErr, salesDrop   atomic.Int64
	salesRetries, firstReplays, salesAttempt atomic.Int64
	readsLat                                 Hist
	readsDrop                                atomic.Int64
	kinds                                    map[string]*readKind

	outcomesMu     sync.Mutex
	outcomes       map[string]map[string]int64 // sale kind → answer code → n
	errorsBy       map[string]int64
	readErrSamples []string

	freshLat                               Hist
	freshTimeouts, probesSkipped, probeReq atomic.Int64
	probeSem                               chan struct{}
	probeWG                                sync.WaitGroup

	ghostChecked, ghosts, ghostMaxAge atomic.Int64 // max age in µs

	streamsConnected, streamEvents, streamErrors atomic.Int64

	mu         sync.Mutex
	buyers     map[string][]ackRec
	againPool  []again // buyers who may try a second outlet
	replays    []replayRec
	acks       int64
	violations []Violation
	// eligibleRefused counts fresh buyers (today's birth years, valid IDs)
	// refused as not eligible today or mistyped; eligibleRefusedAt keeps
	// the first of them.
	eligibleRefused   int64
	eligibleRefusedAt []string
}

// sellBase picks the ledger node for the next sale. A retry of a sale
// (same txn_id) may land on another node, as behind a load balancer.
func (e *engine) sellBase() string {
	if len(e.sellBases) == 0 {
		return e.base
	}
	return e.sellBases[e.sellNext.Add(1)%uint64(len(e.sellBases))]
}

func newEngine(cfg *Config, base string, rules *dayRules, runID string) *engine {
	e := &engine{
		cfg: cfg, base: base, readBase: base, rules: rules, runID: runID,
		salesC:   newClient(cfg.SalesWorkers+8, 0),
		readsC:   newClient(cfg.ReadWorkers+cfg.Scrapers+8, 30*time.Second),
		rawSales: newRawClient(cfg.Timeout, cfg.SalesWorkers+8),
		rawReads: newRawClient(30*time.Second, cfg.ReadWorkers+8),
		probeC:   newClient(72, 5*time.Second),
		// As probeC: 64 probes in flight and the forecast's, 5 s each.
		rawProbes: newRawClient(5*time.Second, 72),
		streamC:   newClient(cfg.Streams+2, 0),
		byCode:    map[string]*outletState{},
		kinds:     map[string]*readKind{},
		outcomes:  map[string]map[string]int64{},
		errorsBy:  map[string]int64{},
		probeSem:  make(chan struct{}, 64),
		buyers:    map[string][]ackRec{},
	}
	for _, k := range readKinds {
		e.kinds[k] = &readKind{}
	}
	return e
}

func (e *engine) sec(t time.Time) *second {
	i := int(t.Sub(e.start) / time.Second)
	return e.secs[min(max(i, 0), len(e.secs)-1)]
}

func (e *engine) violate(check, format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.violations) < 1000 { // enough to diagnose, bounded
		e.violations = append(e.violations, Violation{Check: check, Detail: fmt.Sprintf(format, args...)})
	}
}

// run drives the load for the configured duration and waits for the
// requests in flight and the freshness probes to finish.
func (e *engine) run(ctx context.Context) {
	dur := e.cfg.Duration
	e.start = time.Now()
	e.end = e.start.Add(dur)
	// Requests still in flight at the end are tallied in the last seconds.
	e.secs = make([]*second, int(dur/time.Second)+1+int(4*e.cfg.Timeout/time.Second)+12)
	for i := range e.secs {
		e.secs[i] = &second{}
	}
	runCtx, cancel := context.WithDeadline(ctx, e.end)
	defer cancel()
	bgCtx, stopBG := context.WithCancel(ctx)

	var bg sync.WaitGroup
	rng := rand.New(rand.NewPCG(uint64(e.cfg.Seed), 7))
	for range e.cfg.Streams {
		o := e.outlets[rng.IntN(len(e.outlets))]
		lat, lng := jitter(rng, o.lat, o.lng, 1000)
		bg.Go(func() { e.stream(bgCtx, lat, lng) })
	}
	for i := range e.cfg.Scrapers {
		kind := []string{"stores", "sales"}[i%2]
		bg.Go(func() { e.scrape(bgCtx, kind) })
	}
	if !e.cfg.Quiet {
		bg.Go(func() { e.progressLoop(bgCtx) })
	}

	var workers sync.WaitGroup
	saleQ := make(chan *saleJob, e.cfg.SalesWorkers)
	readQ := make(chan *readJob, e.cfg.ReadWorkers)
	work(&workers, e.cfg.SalesWorkers, saleQ, e.dropSale, e.sell)
	work(&workers, e.cfg.ReadWorkers, readQ, e.dropRead, e.read)
	var sched sync.WaitGroup
	sg := newSaleGen(e, rand.New(rand.NewPCG(uint64(e.cfg.Seed), 11)))
	rg := newReadGen(e, rand.New(rand.NewPCG(uint64(e.cfg.Seed), 13)))
	sched.Go(func() {
		schedule(runCtx, e, e.cfg.SalesRate, saleQ, sg.next, e.dropSale)
	})
	sched.Go(func() {
		schedule(runCtx, e, e.cfg.ReadRate, readQ, rg.next, e.dropRead)
	})
	sched.Wait()
	close(saleQ)
	close(readQ)
	workers.Wait()
	e.probeWG.Wait()
	stopBG()
	bg.Wait()
}

// schedule is the open-loop arrival process: every 2 ms it adds
// rate·Surge(t)·dt to the arrivals due and hands each to the worker pool
// without waiting. When the pool's queue is full the arrival is counted as
// dropped rather than queued, so the generator's backlog stays bounded and
// a slow server shows as dropped load, not as a silently lower rate.
// dropSale and dropRead count a request the generator could not send in
// time, in the second it was due.
func (e *engine) dropSale(due time.Time) {
	e.salesDrop.Add(1)
	e.sec(due).salesDropped.Add(1)
}

func (e *engine) dropRead(due time.Time) {
	e.readsDrop.Add(1)
	e.sec(due).readsDropped.Add(1)
}

func (j *saleJob) dueAt() time.Time { return j.due }
func (j *readJob) dueAt() time.Time { return j.due }

// work starts n workers doing the jobs of q. A job more than a second
// late is dropped: sending it now would misreport the server, since the
// generator fell behind, not the server.
func work[J interface{ dueAt() time.Time }](wg *sync.WaitGroup, n int, q <-chan J, drop func(time.Time), do func(J)) {
	for range n {
		wg.Go(func() {
			for j := range q {
				if time.Since(j.dueAt()) > time.Second {
					drop(j.dueAt())
					continue
				}
				do(j)
			}
		})
	}
}

func schedule[J any](ctx context.Context, e *engine, rate float64, q chan<- J, gen func(time.Time) J, dropped func(time.Time)) {
	if rate <= 0 {
		return
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	last := e.start
	due, sent := 0.0, 0
	dur := e.end.Sub(e.start).Seconds()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		if !now.Before(e.end) {
			return
		}
		f := now.Sub(e.start).Seconds() / dur
		due += rate * Surge(f) * now.Sub(last).Seconds()
		last = now
		for ; sent < int(due); sent++ {
			// This goroutine is q's only sender: while q has room the
			// send cannot block. An arrival that finds it full is
			// dropped without being drawn: at capacity most arrivals
			// are, and drawing them (a person, an outlet, a txn_id) was
			// about a tenth of the generator's CPU, for requests never
			// sent.
			if len(q) < cap(q) {
				q <- gen(now)
			} else {
				dropped(now)
			}
		}
	}
}

// saleGen draws who comes to which counter. Mix (documented in
