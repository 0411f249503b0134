package rush

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
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

	outlets []*outletState
	byCode  map[string]*outletState
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
		probeC:   newClient(72, 5*time.Second),
		streamC:  newClient(cfg.Streams+2, 0),
		byCode:   map[string]*outletState{},
		kinds:    map[string]*readKind{},
		outcomes: map[string]map[string]int64{},
		errorsBy: map[string]int64{},
		probeSem: make(chan struct{}, 64),
		buyers:   map[string][]ackRec{},
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
	for range e.cfg.SalesWorkers {
		workers.Go(func() {
			for j := range saleQ {
				if time.Since(j.due) > time.Second {
					// Sending it now would misreport the server: the
					// generator fell behind, not the counter.
					e.salesDrop.Add(1)
					e.sec(j.due).salesDropped.Add(1)
					continue
				}
				e.sell(j)
			}
		})
	}
	for range e.cfg.ReadWorkers {
		workers.Go(func() {
			for j := range readQ {
				if time.Since(j.due) > time.Second {
					e.readsDrop.Add(1)
					e.sec(j.due).readsDropped.Add(1)
					continue
				}
				e.read(j)
			}
		})
	}
	var sched sync.WaitGroup
	sg := newSaleGen(e, rand.New(rand.NewPCG(uint64(e.cfg.Seed), 11)))
	rg := newReadGen(e, rand.New(rand.NewPCG(uint64(e.cfg.Seed), 13)))
	sched.Go(func() {
		schedule(runCtx, e, e.cfg.SalesRate, saleQ, sg.next, func(t time.Time) {
			e.salesDrop.Add(1)
			e.sec(t).salesDropped.Add(1)
		})
	})
	sched.Go(func() {
		schedule(runCtx, e, e.cfg.ReadRate, readQ, rg.next, func(t time.Time) {
			e.readsDrop.Add(1)
			e.sec(t).readsDropped.Add(1)
		})
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
			select {
			case q <- gen(now):
			default:
				dropped(now)
			}
		}
	}
}

// saleGen draws who comes to which counter. Mix (documented in
// BENCHMARKS.md): 84% eligible first purchases, 7% wrong weekday, 6% a
// second try at another outlet after buying, 3% mistyped IDs.
type saleGen struct {
	e   *engine
	rng *rand.Rand
	pop *Population
	seq int
}

func newSaleGen(e *engine, rng *rand.Rand) *saleGen {
	var digits []int
	if e.rules != nil {
		digits = e.rules.DigitsToday
	}
	return &saleGen{e: e, rng: rng, pop: NewPopulation(uint64(e.cfg.Seed)^0x5eed, digits)}
}

func (g *saleGen) outlet() *outletState { return g.e.outlets[g.e.pop.pick(g.rng)] }

func (g *saleGen) next(now time.Time) *saleJob {
	g.seq++
	j := &saleJob{due: now, kind: kindFresh, outlet: g.outlet(), txn: "rush-" + g.e.runID + "-" + strconv.Itoa(g.seq)}
	j.qty = 2
	if g.rng.IntN(5) == 0 {
		j.qty = 1
	}
	x := g.rng.IntN(100)
	switch {
	case x < 7:
		if id, _, ok := g.pop.WrongDay(); ok {
			j.kind, j.buyer = kindWrongDay, id
		}
	case x < 13:
		g.e.mu.Lock()
		if n := len(g.e.againPool); n > 0 {
			i := g.rng.IntN(n)
			a := g.e.againPool[i]
			j.kind, j.buyer = kindAgain, a.buyer
			prev := a.outlet
			// Drop it from the pool: one second try each keeps the mix
			// stable however long the run.
			g.e.againPool[i] = g.e.againPool[n-1]
			g.e.againPool = g.e.againPool[:n-1]
			g.e.mu.Unlock()
			for range 8 {
				if o := g.outlet(); o.code != prev {
					j.outlet = o
					break
				}
			}
		} else {
			g.e.mu.Unlock()
		}
	case x < 16:
		id, _ := g.pop.Eligible()
		j.kind, j.buyer = kindMistyped, g.pop.Mistype(id)
	}
	if j.buyer == "" {
		j.kind = kindFresh
		j.buyer, _ = g.pop.Eligible()
	}
	return j
}

// readGen draws what the citizens' apps ask: 50% storesByGeo, 30% v2 near,
// 12% storesByAddr, 8% one outlet's page, each around a random outlet
// (outlets are placed in proportion to population, so they stand in for
// where people are).
type readGen struct {
	e     *engine
	rng   *rand.Rand
	seq   int
	ghost int // scan every ghost-th answer for ghost stock
}

func newReadGen(e *engine, rng *rand.Rand) *readGen {
	return &readGen{e: e, rng: rng, ghost: 4}
}

var geoRadii = []struct {
	m   int
	pct int
}{{500, 15}, {1000, 50}, {2000, 20}, {3000, 10}, {5000, 5}}

func (g *readGen) next(now time.Time) *readJob {
	g.seq++
	o := g.e.outlets[g.rng.IntN(len(g.e.outlets))]
	lat, lng := jitter(g.rng, o.lat, o.lng, 800)
	j := &readJob{due: now, ghost: g.seq%g.ghost == 0}
	switch x := g.rng.IntN(100); {
	case x < 50:
		m, y := 1000, g.rng.IntN(100)
		for _, r := range geoRadii {
			if y < r.pct {
				m = r.m
				break
			}
			y -= r.pct
		}
		j.kind = "geo"
		j.path = "/corona19-masks/v1/storesByGeo/json?lat=" + fmtCoord(lat) + "&lng=" + fmtCoord(lng) + "&m=" + strconv.Itoa(m)
	case x < 80:
		j.kind = "near"
		j.path = "/api/v2/outlets/near?lat=" + fmtCoord(lat) + "&lng=" + fmtCoord(lng) + "&m=1000&limit=50"
	case x < 92 && len(g.e.addrs) > 0:
		j.kind = "addr"
		j.path = "/corona19-masks/v1/storesByAddr/json?address=" + url.QueryEscape(g.e.addrs[g.rng.IntN(len(g.e.addrs))])
	default:
		j.kind = "outlet"
		j.path = "/api/v2/outlets/" + url.PathEscape(o.code)
	}
	return j
}

type receipt struct {
	SaleID string    `json:"sale_id"`
	SoldAt time.Time `json:"sold_at"`
	Items  []struct {
		Role     string `json:"role"`
		Quantity int    `json:"quantity"`
	} `json:"items"`
	Outlet struct {
		Stock      int    `json:"stock"`
		RemainStat string `json:"remain_stat"`
	} `json:"outlet"`
}

// rejectCodes are the intended answers to the buyers the rush sends.
var rejectCodes = map[string]bool{
	"not_eligible_today": true, "quota_exceeded": true, "out_of_stock": true,
	"sales_suspended": true, "invalid_id": true,
}

// post sends one sale attempt.
func (e *engine) post(token string, body []byte) (int, []byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.sellBase()+"/api/v2/outlet/sales", bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.salesC.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, b, resp.Header, err
}

func saleBody(txn, buyer string, qty int) []byte {
	b := make([]byte, 0, 96)
	b = append(b, `{"txn_id":"`...)
	b = append(b, txn...)
	b = append(b, `","buyer":"`...)
	b = append(b, buyer...)
	b = append(b, `","quantity":`...)
	b = strconv.AppendInt(b, int64(qty), 10)
	return append(b, '}')
}

// sell makes one sale at the counter, retrying with the same txn_id when
// an attempt times out or the server is unavailable, as a counter app
// would; the latency is the counter's wait, first send to final answer.
func (e *engine) sell(j *saleJob) {
	body := saleBody(j.txn, j.buyer, j.qty)
	t0 := time.Now()
	var (
		status int
		b      []byte
		err    error
		hdr    http.Header
	)
	const attempts = 4
	retried := false
	for a := 1; a <= attempts; a++ {
		e.salesAttempt.Add(1)
		status, b, hdr, err = e.post(j.outlet.token, body)
		retry := err != nil || status == http.StatusServiceUnavailable
		if !retry || a == attempts {
			break
		}
		e.salesRetries.Add(1)
		retried = true
		wait := time.Duration(a) * 50 * time.Millisecond
		if s, perr := strconv.Atoi(hdr.Get("Retry-After")); perr == nil && err == nil {
			wait = min(time.Duration(s)*time.Second, 500*time.Millisecond)
		}
		time.Sleep(wait)
	}
	now := time.Now()
	lat := now.Sub(t0)
	sec := e.sec(t0)
	code := ""
	switch {
	case err != nil:
		code = "transport"
		if errors.Is(err, context.DeadlineExceeded) {
			code = "timeout"
		}
	case status == http.StatusCreated || status == http.StatusOK:
		code = strconv.Itoa(status)
	default:
		code = errorCode(b)
	}
	e.outcome(j.kind, code)
	switch {
	case err == nil && (status == http.StatusCreated || status == http.StatusOK):
		var r receipt
		if jerr := json.Unmarshal(b, &r); jerr != nil || r.SaleID == "" {
			e.salesErr.Add(1)
			sec.salesErr.Add(1)
			e.countError("bad_receipt")
			return
		}
		e.salesOK.Add(1)
		sec.salesOK.Add(1)
		e.salesLat.Record(lat)
		sec.sales.Record(lat)
		if status == http.StatusOK && !retried {
			// A fresh txn_id answered as a replay: the server's
			// idempotency keys collide.
			e.firstReplays.Add(1)
		}
		e.acked(j, &r, body, now)
	case err == nil && status/100 == 4 && rejectCodes[code]:
		e.salesRej.Add(1)
		sec.salesRej.Add(1)
		e.salesLat.Record(lat)
		sec.sales.Record(lat)
	default:
		e.salesErr.Add(1)
		sec.salesErr.Add(1)
		if code == "" {
			code = strconv.Itoa(status)
		}
		e.countError(fmt.Sprintf("%d %s", status, code))
	}
}

func (e *engine) outcome(kind, code string) {
	e.outcomesMu.Lock()
	m := e.outcomes[kind]
	if m == nil {
		m = map[string]int64{}
		e.outcomes[kind] = m
	}
	m[code]++
	e.outcomesMu.Unlock()
}

func (e *engine) countError(key string) {
	e.outcomesMu.Lock()
	e.errorsBy[key]++
	e.outcomesMu.Unlock()
}

// acked books an acknowledged sale: the buyer's tally for the client-side
// quota check, the outlet's acknowledged stock for ghost detection, a
// freshness probe when the band fell (or every ProbeEvery-th sale), and
// the replay sample.
func (e *engine) acked(j *saleJob, r *receipt, body []byte, at time.Time) {
	switch j.kind {
	case kindMistyped:
		e.violate("invalid_id_accepted", "sale %s accepted a mistyped ID (txn %s)", r.SaleID, j.txn)
	case kindWrongDay:
		e.violate("wrong_day_accepted", "sale %s accepted birth year %d on %s (txn %s)", r.SaleID, BirthYear(j.buyer), e.rules.Date, j.txn)
	}
	qty := 0
	for _, it := range r.Items {
		qty += it.Quantity
	}
	e.mu.Lock()
	recs := e.buyers[j.buyer]
	dup := false
	for _, a := range recs {
		dup = dup || a.saleID == r.SaleID
	}
	if !dup {
		e.buyers[j.buyer] = append(recs, ackRec{saleID: r.SaleID, outlet: j.outlet.code, qty: qty})
	}
	if j.kind == kindFresh && len(e.againPool) < 100_000 {
		e.againPool = append(e.againPool, again{j.buyer, j.outlet.code})
	}
	// Reservoir sample of the acknowledged sales to replay at the end.
	e.acks++
	rec := replayRec{token: j.outlet.token, txn: j.txn, body: string(body), saleID: r.SaleID}
	if len(e.replays) < e.cfg.Replay {
		e.replays = append(e.replays, rec)
	} else if k := rand.Int64N(e.acks); k < int64(len(e.replays)) {
		e.replays[k] = rec
	}
	seq := e.acks
	e.mu.Unlock()

	if dup {
		return
	}
	changed := j.outlet.ack(r.Outlet.Stock, qty, at)
	if j.outlet.forecastMark(r.Outlet.Stock, r.SoldAt) {
		e.probeWG.Add(1)
		go e.forecastProbe(j.outlet, r.SoldAt)
	}
	if changed || (e.cfg.ProbeEvery > 0 && seq%int64(e.cfg.ProbeEvery) == 0) {
		select {
		case e.probeSem <- struct{}{}:
			e.probeWG.Add(1)
			go e.probe(j.outlet, r.SoldAt, at)
		default:
			e.probesSkipped.Add(1)
		}
	}
}

// probe polls the outlet's public record until it shows the sale
// (updated_at at or after the sale's sold_at: both are the ledger's
// clock) and records the time from the acknowledgement to the first
// answer that shows it. That is an upper bound by one request's latency.
func (e *engine) probe(o *outletState, soldAt, ackAt time.Time) {
	defer func() {
		<-e.probeSem
		e.probeWG.Done()
	}()
	want := soldAt.Truncate(time.Microsecond)
	deadline := ackAt.Add(10 * time.Second)
	wait := time.Millisecond
	path := e.readBase + "/api/v2/outlets/" + url.PathEscape(o.code)
	for {
		e.probeReq.Add(1)
		resp, err := e.probeC.Get(path)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if t, ok := findTime(b, `"updated_at":"`); ok && !t.Before(want) {
					d := time.Since(ackAt)
					e.freshLat.Record(d)
					e.sec(ackAt).fresh.Record(d)
					return
				}
			}
		}
		if time.Now().After(deadline) {
			e.freshTimeouts.Add(1)
			return
		}
		time.Sleep(wait)
		wait = min(wait*2, 20*time.Millisecond)
	}
}

func findTime(b []byte, key string) (time.Time, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return time.Time{}, false
	}
	b = b[i+len(key):]
	j := bytes.IndexByte(b, '"')
	if j < 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(b[:j]))
	return t, err == nil
}

// read makes one public read.
func (e *engine) read(j *readJob) {
	t0 := time.Now()
	req, err := http.NewRequest(http.MethodGet, e.readBase+j.path, nil)
	if err != nil {
		return
	}
	if e.cfg.Gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := e.readsC.Do(req)
	var b []byte
	status := 0
	if err == nil {
		status = resp.StatusCode
		if j.ghost && status == http.StatusOK && !e.cfg.Gzip || status != http.StatusOK && status != http.StatusServiceUnavailable {
			b, err = io.ReadAll(resp.Body)
		} else {
			_, err = io.Copy(io.Discard, resp.Body)
		}
		resp.Body.Close()
	}
	e.tallyRead(j.kind, t0, status, err)
	if err == nil && status == http.StatusOK && b != nil {
		e.checkGhosts(b, t0)
	} else if err == nil && status != http.StatusOK && status != http.StatusServiceUnavailable {
		e.readErrorSample(j.path, status, b)
	}
}

// readErrorSample keeps a few failing public requests verbatim: an error
// answer to a query built from the server's own outlets is a server bug
// worth a report.
func (e *engine) readErrorSample(path string, status int, body []byte) {
	e.outcomesMu.Lock()
	defer e.outcomesMu.Unlock()
	if len(e.readErrSamples) < 10 {
		e.readErrSamples = append(e.readErrSamples, fmt.Sprintf("%d %s: %.200s", status, path, body))
	}
}

func (e *engine) tallyRead(kind string, t0 time.Time, status int, err error) {
	lat := time.Since(t0)
	k, sec := e.kinds[kind], e.sec(t0)
	switch {
	case err == nil && status == http.StatusOK:
		k.ok.Add(1)
		sec.readsOK.Add(1)
		k.lat.Record(lat)
		e.readsLat.Record(lat)
		sec.reads.Record(lat)
	case err == nil && status == http.StatusServiceUnavailable:
		k.shed.Add(1)
		sec.readsShed.Add(1)
	default:
		k.errors.Add(1)
		sec.readsErr.Add(1)
		key := "read transport"
		if err == nil {
			key = fmt.Sprintf("read %s %d", kind, status)
		}
		e.countError(key)
	}
}

// checkGhosts scans a public answer for (code, remain_stat) pairs without
// decoding it (names and addresses are JSON strings, so the keys cannot
// occur inside them) and compares each with the acknowledged stock.
func (e *engine) checkGhosts(b []byte, sent time.Time) {
	sec := e.sec(sent)
	var checked, ghosts int64
	for {
		i := bytes.Index(b, []byte(`"code":"`))
		if i < 0 {
			break
		}
		b = b[i+8:]
		j := bytes.IndexByte(b, '"')
		if j < 0 {
			break
		}
		code := b[:j]
		b = b[j:]
		k := bytes.Index(b, []byte(`"remain_stat":`))
		if k < 0 {
			break
		}
		b = b[k+14:]
		if len(b) == 0 || b[0] != '"' {
			continue // null: never stocked
		}
		b = b[1:]
		end := bytes.IndexByte(b, '"')
		if end < 0 {
			break
		}
		band := bandOf(string(b[:end]))
		o := e.byCode[string(code)]
		if o == nil || band == bandUnknown {
			continue
		}
		checked++
		if g, age := o.ghost(band, sent); g {
			ghosts++
			us := age.Microseconds()
			for {
				m := e.ghostMaxAge.Load()
				if us <= m || e.ghostMaxAge.CompareAndSwap(m, us) {
					break
				}
			}
		}
	}
	e.ghostChecked.Add(checked)
	e.ghosts.Add(ghosts)
	sec.ghostChecked.Add(checked)
	sec.ghosts.Add(ghosts)
}

// stream is one live-map subscriber: it holds /api/v2/stream open,
// reconnecting if dropped, and counts the events.
func (e *engine) stream(ctx context.Context, lat, lng float64) {
	path := e.readBase + "/api/v2/stream?lat=" + fmtCoord(lat) + "&lng=" + fmtCoord(lng) + "&m=2000"
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := e.streamC.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			if ctx.Err() != nil {
				return
			}
			if resp != nil {
				resp.Body.Close()
			}
			e.streamErrors.Add(1)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		e.streamsConnected.Add(1)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if bytes.HasPrefix(sc.Bytes(), []byte("event: outlet")) {
				e.streamEvents.Add(1)
			}
		}
		resp.Body.Close()
	}
}

// scrape is a 2020-style full-list scraper: every page of /stores/json or
// /sales/json, then a pause, over and over.
func (e *engine) scrape(ctx context.Context, kind string) {
	for ctx.Err() == nil {
		for page := 1; ctx.Err() == nil; page++ {
			t0 := time.Now()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/corona19-masks/v1/%s/json?page=%d&perPage=500", e.readBase, kind, page), nil)
			resp, err := e.readsC.Do(req)
			var b []byte
			status := 0
			if err == nil {
				status = resp.StatusCode
				b, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if ctx.Err() != nil {
				return
			}
			e.tallyRead(kind, t0, status, err)
			if err != nil || status != http.StatusOK {
				break
			}
			var p struct {
				Count int `json:"count"`
			}
			if json.Unmarshal(b, &p) != nil || p.Count < 500 {
				break
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// progressLoop prints one line per second about the second just past.
func (e *engine) progressLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	w := e.cfg.progress()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if i >= len(e.secs) {
			return
		}
		s := e.secs[i]
		ghost := 0.0
		if c := e.ghostChecked.Load(); c > 0 {
			ghost = 100 * float64(e.ghosts.Load()) / float64(c)
		}
		fmt.Fprintf(w, "[%3ds] sales %5d/s ok %4d rej %d err p99 %6.1fms | reads %6d/s %d shed %d err p99 %5.1fms | fresh p99 %5.1fms (n=%d) | ghost %.2f%% | dropped %d/%d\n",
			i+1, s.salesOK.Load(), s.salesRej.Load(), s.salesErr.Load(), ms(s.sales.Quantile(0.99)),
			s.readsOK.Load(), s.readsShed.Load(), s.readsErr.Load(), ms(s.reads.Quantile(0.99)),
			ms(e.freshLat.Quantile(0.99)), e.freshLat.Count(), ghost,
			s.salesDropped.Load(), s.readsDropped.Load())
	}
}
