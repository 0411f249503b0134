package rush

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/publicmask/publicmask/ledger"
)

// Run makes one rush and returns its report (nil only when the run could
// not be set up). Violations are in the report, not in the error.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	started := time.Now()
	tg, err := connect(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	defer tg.close()
	rules, err := tg.api.rulesToday(ctx)
	if err != nil {
		return nil, err
	}
	if !rules.SalesOpen {
		return nil, fmt.Errorf("sales are closed on the server's date %s", rules.Date)
	}
	e, err := prepare(ctx, &cfg, tg, rules)
	if err != nil {
		return nil, err
	}
	if !cfg.Quiet {
		fmt.Fprintf(cfg.progress(), "rush: %s, %d outlets stocked, server date %s (digits %v), %v at up to %.0f sales/s and %.0f reads/s\n",
			tg.base, len(e.outlets), rules.Date, rules.DigitsToday, cfg.Duration, cfg.SalesRate, cfg.ReadRate)
	}

	cpu := startCPU(cfg.ServerPID)
	e.run(ctx)
	genEnd := time.Now()
	if genEnd.After(e.end) {
		genEnd = e.end // workers finishing in-flight requests is not run time
	}
	return e.finish(ctx, tg, cpu, started, genEnd.Sub(e.start)), nil
}

// target is the server a rush runs against: given, or started for the run.
type target struct {
	api      *api
	base     string   // the first ledger node
	readBase string   // where public reads go
	targets  []string // every ledger node sales go to
	own      *ownServer
}

// connect starts a server when none is given and waits until it is ready.
func connect(ctx context.Context, cfg *Config) (*target, error) {
	tg := &target{targets: splitTargets(cfg.Target)}
	if len(tg.targets) > 0 {
		tg.base = tg.targets[0]
	}
	if tg.base == "" {
		srv, err := startServer(ctx, cfg)
		if err != nil {
			return nil, err
		}
		tg.own = srv
		tg.base, cfg.AdminToken = srv.base, srv.token
		tg.targets = []string{tg.base}
	}
	tg.readBase = strings.TrimSuffix(cfg.ReadTarget, "/")
	if tg.readBase == "" {
		tg.readBase = tg.base
	}
	tg.api = &api{base: tg.base, pub: tg.readBase, admin: cfg.AdminToken, c: newClient(32, 5*time.Minute)}
	if err := tg.api.waitReady(ctx, time.Minute); err != nil {
		tg.close()
		return nil, err
	}
	return tg, nil
}

func (tg *target) close() {
	if tg.own != nil {
		tg.own.close()
	}
}

// prepare imports or picks the outlets, issues their tokens, delivers their
// opening stock and returns an engine holding them.
func prepare(ctx context.Context, cfg *Config, tg *target, rules *dayRules) (*engine, error) {
	a := tg.api
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 3))
	outlets, err := loadOutlets(ctx, a, cfg, tg.own != nil, rng)
	if err != nil {
		return nil, err
	}
	codes := make([]string, len(outlets))
	for i, o := range outlets {
		codes[i] = o.Code
	}
	tokens, err := issueTokens(ctx, a, codes)
	if err != nil {
		return nil, err
	}
	runID := newRunID()
	qty := make(map[string]int, len(codes))
	for _, c := range codes {
		qty[c] = openingStock(rng)
	}
	stock, err := deliver(ctx, a, runID, qty, codes)
	if err != nil {
		return nil, err
	}

	e := newEngine(cfg, tg.base, rules, runID)
	defer e.rawSales.closeIdle()
	defer e.rawReads.closeIdle()
	defer e.rawProbes.closeIdle()
	e.readBase, e.sellBases = tg.readBase, tg.targets
	var weights []float64
	var stocked []string
	for _, o := range outlets {
		tok, ok := tokens[o.Code]
		s, delivered := stock[o.Code]
		if !ok || !delivered {
			continue // rejected by the server (e.g. no coordinates)
		}
		e.addOutlet(&outletState{code: o.Code, token: tok, lat: o.Lat, lng: o.Lng, opening: s, minStock: s})
		stocked = append(stocked, o.Code)
		// Popularity: log-normal, so that a few outlets draw crowds (and
		// run out) while most see a steady trickle.
		weights = append(weights, math.Exp(0.9*rng.NormFloat64()))
	}
	if len(e.outlets) == 0 {
		return nil, errors.New("no outlet could be stocked")
	}
	e.pop = newPicker(weights)
	e.addrs = addrQueries(outlets, rng)
	if err := waitVisible(ctx, a, stocked[max(len(stocked)-3, 0):], 30*time.Second); err != nil {
		return nil, err
	}
	return e, nil
}

// addOutlet adds a stocked outlet, its bands reached now.
func (e *engine) addOutlet(st *outletState) {
	s := st.opening
	st.reachedAt[max(bandOfStock(s), 0)] = time.Now()
	for k := bandOfStock(s) + 1; k < len(st.reachedAt); k++ {
		st.reachedAt[k] = st.reachedAt[bandOfStock(s)]
	}
	e.outlets = append(e.outlets, st)
	e.addCode(st)
}

// addCode indexes an outlet by its code (byCode, byCode8).
func (e *engine) addCode(st *outletState) {
	e.byCode[st.code] = st
	if len(st.code) == 8 {
		if e.byCode8 == nil {
			e.byCode8 = map[uint64]*outletState{}
		}
		e.byCode8[binary.LittleEndian.Uint64([]byte(st.code))] = st
	}
}

// outletFor is byCode[string(code)]: through byCode8 for an 8-byte code
// (a map of 26,263 strings was two thirds of the ghost scan's CPU, which
// was an eighth of the generator's in the mixed rush; BENCHMARKS.md,
// branch mix28).
func (e *engine) outletFor(code []byte) *outletState {
	if len(code) == 8 && e.byCode8 != nil {
		return e.byCode8[binary.LittleEndian.Uint64(code)]
	}
	return e.byCode[string(code)]
}

// finish runs the checks and builds the report. They run even after an
// interrupt: a partial rush must still prove nothing was lost.
func (e *engine) finish(ctx context.Context, tg *target, cpu *cpuMeter, started time.Time, elapsed time.Duration) *Report {
	own := tg.own != nil
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	rep := e.report(started, elapsed, own)
	rep.CPU = cpu.stop(rep.Sales.OK, rep.Sales.OK+rep.Sales.Rejected+rep.Sales.Errors+rep.Reads.OK+rep.Reads.Errors+rep.Reads.Shed, own)
	rep.Replay = e.replayCheck(cctx)
	rep.Acked = e.ackedCheck(cctx)
	rep.Public = e.publicCheck(cctx)
	rep.Sales.EligibleRefused = e.eligibleCheck(cctx, tg.api)
	e.clientChecks()
	if own {
		e.stockCheck(cctx)
	}
	rep.Verify = e.verify(cctx, tg.api)
	e.mu.Lock()
	rep.Violations = append([]Violation{}, e.violations...)
	e.mu.Unlock()
	if !e.cfg.Quiet {
		e.summary(rep)
	}
	return rep
}

func (e *engine) report(started time.Time, elapsed time.Duration, own bool) *Report {
	cfg := e.cfg
	d := elapsed.Seconds()
	r := &Report{
		Format: 1, StartedAt: started, DurationS: math.Round(d*1000) / 1000,
		Settings: Settings{
			Target: cfg.Target, Duration: cfg.Duration.String(), Outlets: len(e.outlets), OutletsFile: cfg.OutletsFile,
			SalesRate: cfg.SalesRate, ReadRate: cfg.ReadRate,
			Shape: "morning surge: 25% of the peak rate at 08:00, ramp to 100% over the first 20% of the run, hold to 70%, decay to 70% at the end",
			Seed:  cfg.Seed, SalesWorkers: cfg.SalesWorkers, ReadWorkers: cfg.ReadWorkers,
			Streams: cfg.Streams, Scrapers: cfg.Scrapers, ProbeEvery: cfg.ProbeEvery, Timeout: cfg.Timeout.String(), Gzip: cfg.Gzip,
			SaleMix: "84% eligible first purchase (80% qty 2, 20% qty 1), 7% wrong weekday, 6% second outlet after buying, 3% mistyped ID; outlets by log-normal popularity",
			ReadMix: "50% storesByGeo (m 500–5000), 30% v2 near, 12% storesByAddr, 8% v2 outlet, around random outlets (population proxy); plus scrapers and SSE subscribers",
		},
		Machine: machine(),
		Server:  ServerInfo{Date: e.rules.Date, DigitsToday: e.rules.DigitsToday, WeeklyQuota: e.rules.WeeklyQuota, PurchasesPerWeek: e.rules.PurchasesPerWeek},
	}
	if own {
		r.Settings.Clock, r.Settings.Policy = cfg.Clock, cfg.Policy
	}
	per := func(n int64) float64 {
		if d <= 0 {
			return 0
		}
		return math.Round(float64(n)/d*10) / 10
	}
	e.outcomesMu.Lock()
	rejBy := map[string]int64{}
	byKind := map[string]map[string]int64{}
	for k, m := range e.outcomes {
		byKind[k] = map[string]int64{}
		for c, n := range m {
			byKind[k][c] = n
			if rejectCodes[c] {
				rejBy[c] += n
			}
		}
	}
	errBy, readErrBy := map[string]int64{}, map[string]int64{}
	for k, n := range e.errorsBy {
		if rk, ok := strings.CutPrefix(k, "read "); ok {
			readErrBy[rk] = n
		} else {
			errBy[k] = n
		}
	}
	readErrSamples := append([]string{}, e.readErrSamples...)
	e.outcomesMu.Unlock()
	r.Sales = SalesReport{
		OK: e.salesOK.Load(), Rejected: e.salesRej.Load(), Errors: e.salesErr.Load(), PerSec: per(e.salesOK.Load()),
		P50: ms(e.salesLat.Quantile(0.5)), P90: ms(e.salesLat.Quantile(0.9)), P99: ms(e.salesLat.Quantile(0.99)), Max: ms(e.salesLat.Max()),
		Attempts: e.salesAttempt.Load(), Retries: e.salesRetries.Load(), Dropped: e.salesDrop.Load(),
		FirstAttemptReplays: e.firstReplays.Load(), RejectedBy: rejBy, ErrorsBy: errBy, ByKind: byKind,
	}
	r.Reads = ReadsReport{ByKind: map[string]KindStats{}, Dropped: e.readsDrop.Load(), ErrorsBy: readErrBy, ErrorSamples: readErrSamples,
		P50: ms(e.readsLat.Quantile(0.5)), P90: ms(e.readsLat.Quantile(0.9)), P99: ms(e.readsLat.Quantile(0.99)), Max: ms(e.readsLat.Max())}
	for name, k := range e.kinds {
		s := KindStats{OK: k.ok.Load(), Errors: k.errors.Load(), Shed: k.shed.Load(), P50: ms(k.lat.Quantile(0.5)), P99: ms(k.lat.Quantile(0.99))}
		r.Reads.ByKind[name] = s
		r.Reads.OK += s.OK
		r.Reads.Errors += s.Errors
		r.Reads.Shed += s.Shed
	}
	r.Reads.PerSec = per(r.Reads.OK)
	r.Freshness = FreshReport{
		Samples: e.freshLat.Count(), P50: ms(e.freshLat.Quantile(0.5)), P90: ms(e.freshLat.Quantile(0.9)),
		P99: ms(e.freshLat.Quantile(0.99)), Max: ms(e.freshLat.Max()),
		Timeouts: e.freshTimeouts.Load(), Skipped: e.probesSkipped.Load(), Requests: e.probeReq.Load(),
	}
	r.Forecast = e.forecastReport()
	r.Ghost = GhostReport{Reads: e.ghostChecked.Load(), Ghosts: e.ghosts.Load(), MaxAgeMs: float64(e.ghostMaxAge.Load()) / 1000}
	if r.Ghost.Reads > 0 {
		r.Ghost.Share = math.Round(float64(r.Ghost.Ghosts)/float64(r.Ghost.Reads)*1e6) / 1e6
	}
	r.Streams = StreamReport{Subscribers: cfg.Streams, Connects: e.streamsConnected.Load(), Events: e.streamEvents.Load(), Errors: e.streamErrors.Load()}
	r.Series = e.series()
	return r
}

// replayCheck sends a sample of acknowledged sales again, same txn_id and
// body: each must be answered 200 with the first receipt, byte for byte
// (DESIGN.md §6.6), not only its sale_id.
func (e *engine) replayCheck(ctx context.Context) ReplayReport {
	e.mu.Lock()
	sample := append([]replayRec{}, e.replays...)
	e.mu.Unlock()
	rep := ReplayReport{Sampled: len(sample)}
	var mu sync.Mutex
	eachConcurrently(ctx, 8, sample, func(r replayRec) {
		var status int
		var b []byte
		var err error
		for range 3 {
			if status, b, _, err = e.post(r.token, []byte(r.body)); err == nil && status != http.StatusServiceUnavailable {
				break
			}
		}
		var got receipt
		ok := err == nil && status == http.StatusOK && json.Unmarshal(b, &got) == nil && got.SaleID == r.saleID
		same := ok && string(b) == r.receipt
		mu.Lock()
		if same {
			rep.OK++
		} else {
			rep.Failed++
		}
		mu.Unlock()
		switch {
		case !ok:
			e.violate("replay", "txn %s: want 200 with sale %s, got %d %v %.200s", r.txn, r.saleID, status, err, b)
		case !same:
			e.violate("replay", "txn %s: sale %s replayed with another receipt: first %.300s, again %.300s", r.txn, r.saleID, r.receipt, b)
		}
	})
	return rep
}

// ackedCheck reads every acknowledged sale back from its outlet's list of
// sales (GET /api/v2/outlet/sales, the latest ledger.MaxRecentSales): each
// must stand there, not cancelled, with the quantity its receipt gave.
// Nothing else proves that no acknowledged sale was lost: a server that
// acknowledged a sale and then lost it whole (stock and quota restored with
// it) satisfies its own verify, and a replay sample sees only its sample.
// A sale older than the outlet's latest ones (a busy outlet, or others
// selling there too) is counted unchecked, not missing.
func (e *engine) ackedCheck(ctx context.Context) AckedReport {
	e.mu.Lock()
	byOutlet := map[*outletState][]ackRec{}
	var rep AckedReport
	for _, recs := range e.buyers {
		for _, r := range recs {
			if o := e.byCode[r.outlet]; o != nil {
				byOutlet[o] = append(byOutlet[o], r)
				rep.Sales++
			}
		}
	}
	e.mu.Unlock()
	a := &api{base: e.base, c: e.salesC}
	var mu sync.Mutex
	eachConcurrently(ctx, 8, slices.Collect(maps.Keys(byOutlet)), func(o *outletState) {
		recs := byOutlet[o]
		var v struct {
			Sales []struct {
				ID        string `json:"id"`
				Quantity  int    `json:"quantity"`
				Cancelled bool   `json:"cancelled"`
			} `json:"sales"`
		}
		path := "/api/v2/outlet/sales?limit=" + strconv.Itoa(ledger.MaxRecentSales)
		if _, err := a.do(ctx, http.MethodGet, path, o.token, "", nil, &v); err != nil {
			e.violate("acked_readback", "outlet %s: %v", o.code, err)
			mu.Lock()
			rep.Unchecked += int64(len(recs))
			mu.Unlock()
			return
		}
		type listed struct {
			qty       int
			cancelled bool
		}
		have := make(map[string]listed, len(v.Sales))
		for _, s := range v.Sales {
			have[s.ID] = listed{s.Quantity, s.Cancelled}
		}
		full := len(v.Sales) >= ledger.MaxRecentSales
		var found, missing, unchecked int64
		for _, r := range recs {
			s, ok := have[r.saleID]
			switch {
			case ok && !s.cancelled && s.qty == r.qty:
				found++
			case ok && s.cancelled:
				missing++
				e.violate("acked_sale_missing", "sale %s at outlet %s was acknowledged and is now cancelled; the rush cancels nothing", r.saleID, o.code)
			case ok:
				missing++
				e.violate("acked_sale_missing", "sale %s at outlet %s was acknowledged for %d masks and stands for %d", r.saleID, o.code, r.qty, s.qty)
			case full:
				unchecked++
			default:
				missing++
				e.violate("acked_sale_missing", "sale %s at outlet %s was acknowledged and is not among the outlet's sales", r.saleID, o.code)
			}
		}
		mu.Lock()
		rep.Found += found
		rep.Missing += missing
		rep.Unchecked += unchecked
		mu.Unlock()
	})
	rep.Unchecked = rep.Sales - rep.Found - rep.Missing // outlets an interrupt left unread
	return rep
}

// publicCheck: once the load is over, the public API must come to show
// every outlet that sold as the ledger has it (its remain_stat), within
// publicSettle. Freshness and ghost figures measure how fast it follows
// during the rush; this says whether it follows at all (a public view that
// stopped or skipped a commit, DESIGN.md §2, stays wrong for good).
func (e *engine) publicCheck(ctx context.Context) PublicReport {
	touched := e.soldOutlets()
	rep := PublicReport{Outlets: len(touched)}
	a := &api{base: e.base, pub: e.readBase, c: e.salesC}
	deadline := time.Now().Add(publicSettle)
	var mu sync.Mutex
	eachConcurrently(ctx, 8, touched, func(o *outletState) {
		var ledgerStat, publicStat string
		var err error
		for {
			var lv, pv struct {
				RemainStat *string `json:"remain_stat"`
			}
			if _, err = a.do(ctx, http.MethodGet, "/api/v2/outlet", o.token, "", nil, &lv); err == nil {
				err = a.getJSON(ctx, "/api/v2/outlets/"+url.PathEscape(o.code), &pv)
			}
			ledgerStat, publicStat = deref(lv.RemainStat), deref(pv.RemainStat)
			if err == nil && ledgerStat == publicStat || time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		mu.Lock()
		switch {
		case err != nil:
			rep.Unread++
			e.violate("public_readback", "outlet %s: %v", o.code, err)
		case ledgerStat != publicStat:
			rep.Stale++
			e.violate("public_stale", "outlet %s: the public API shows %q, the ledger %q, %v after the load", o.code, publicStat, ledgerStat, publicSettle)
		default:
			rep.Agree++
		}
		mu.Unlock()
	})
	return rep
}

// publicSettle is how long the public API may take to show the last sales
// once the load is over: DESIGN.md §5 asks ≤ 1 s across processes; the
// rest is room for a loaded machine.
const publicSettle = 5 * time.Second

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

// eligibleCheck: a buyer born in one of today's years, with a valid ID and
// no purchase yet this week, refused as not eligible today or as a
// mistyped ID is the server's error: a server that refused every sale so
// passed with no violation. Only if the server's date is still the one the
// run began on: at midnight the rotation moves on.
func (e *engine) eligibleCheck(ctx context.Context, a *api) int64 {
	e.mu.Lock()
	n, at := e.eligibleRefused, append([]string{}, e.eligibleRefusedAt...)
	e.mu.Unlock()
	if n == 0 {
		return 0
	}
	if now, err := a.rulesToday(ctx); err != nil || now.Date != e.rules.Date {
		return n
	}
	for _, d := range at {
		e.violate("eligible_refused", "%s", d)
	}
	if n > int64(len(at)) {
		e.violate("eligible_refused", "… and %d more", n-int64(len(at)))
	}
	return n
}

// clientChecks tallies the acknowledged sales per buyer across all
// outlets: nobody may hold more than the weekly quota or more purchases
// than the week allows.
func (e *engine) clientChecks() {
	e.mu.Lock()
	defer e.mu.Unlock()
	quota, purchases := e.rules.WeeklyQuota, e.rules.PurchasesPerWeek
	var over []Violation
	for buyer, recs := range e.buyers {
		total := 0
		for _, r := range recs {
			total += r.qty
		}
		masked := buyer[:6] + "-*******" // never a whole ID in a report
		if quota != nil && total > *quota {
			over = append(over, Violation{"quota", fmt.Sprintf("buyer %s got %d masks in acknowledged sales (quota %d): %v", masked, total, *quota, saleIDs(recs))})
		}
		if purchases != nil && len(recs) > *purchases {
			over = append(over, Violation{"purchases", fmt.Sprintf("buyer %s has %d acknowledged purchases (limit %d): %v", masked, len(recs), *purchases, saleIDs(recs))})
		}
	}
	e.violations = append(e.violations, over[:min(len(over), 1000)]...)
}

func saleIDs(recs []ackRec) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.saleID + "@" + r.outlet
	}
	return out
}

// stockCheck (own server only, where nobody else sells) reads back the
// stock of the outlets that sold: it must equal the opening stock minus
// the acknowledged sales. Higher means an acknowledged sale was lost.
// Lower is possible only if a sale's answer never arrived (an error).
func (e *engine) stockCheck(ctx context.Context) {
	touched := e.soldOutlets()
	rand.Shuffle(len(touched), func(i, j int) { touched[i], touched[j] = touched[j], touched[i] })
	touched = touched[:min(len(touched), 2000)]
	a := &api{base: e.base, c: e.salesC}
	errs := e.salesErr.Load()
	eachConcurrently(ctx, 8, touched, func(o *outletState) {
		var v struct {
			Stock int `json:"stock"`
		}
		if _, err := a.do(ctx, http.MethodGet, "/api/v2/outlet", o.token, "", nil, &v); err != nil {
			e.violate("stock_readback", "outlet %s: %v", o.code, err)
			return
		}
		o.mu.Lock()
		want := o.opening - o.sold
		o.mu.Unlock()
		switch {
		case v.Stock > want:
			e.violate("stock", "outlet %s has %d, but opening %d minus acknowledged sales leaves %d: an acknowledged sale is missing", o.code, v.Stock, o.opening, want)
		case v.Stock < want && errs == 0:
			e.violate("stock", "outlet %s has %d, less than the %d its acknowledged sales leave, with no unanswered sale", o.code, v.Stock, want)
		}
	})
}

// verify asks the server to check its own invariants.
func (e *engine) verify(ctx context.Context, a *api) VerifyResult {
	var v VerifyResult
	_, err := a.do(ctx, http.MethodGet, "/api/v2/admin/verify", a.admin, "", nil, &v)
	if err != nil {
		v.Error = err.Error()
		e.violate("verify", "GET /api/v2/admin/verify failed: %v", err)
		return v
	}
	if !v.OK {
		var list []json.RawMessage
		json.Unmarshal(v.Violations, &list)
		for i, item := range list {
			if i == 20 {
				e.violate("verify", "… and %d more", len(list)-20)
				break
			}
			e.violate("verify", "%s", item)
		}
		if len(list) == 0 {
			e.violate("verify", "server verify not ok")
		}
	}
	return v
}

func (e *engine) summary(r *Report) {
	w := e.cfg.progress()
	fmt.Fprintf(w, "rush: %.1fs  sales ok %d (%.0f/s) rejected %d errors %d p50 %.1fms p99 %.1fms | reads ok %d (%.0f/s) shed %d errors %d p99 %.1fms\n",
		r.DurationS, r.Sales.OK, r.Sales.PerSec, r.Sales.Rejected, r.Sales.Errors, r.Sales.P50, r.Sales.P99,
		r.Reads.OK, r.Reads.PerSec, r.Reads.Shed, r.Reads.Errors, r.Reads.P99)
	fmt.Fprintf(w, "rush: freshness n=%d p50 %.1fms p99 %.1fms max %.1fms | ghost %.3f%% of %d (worst %.0fms) | dropped %d/%d | replay %d/%d | acked sales read back %d/%d, missing %d | verify ok=%v | violations %d\n",
		r.Freshness.Samples, r.Freshness.P50, r.Freshness.P99, r.Freshness.Max, 100*r.Ghost.Share, r.Ghost.Reads, r.Ghost.MaxAgeMs,
		r.Sales.Dropped, r.Reads.Dropped, r.Replay.OK, r.Replay.Sampled, r.Acked.Found, r.Acked.Sales, r.Acked.Missing, r.Verify.OK, len(r.Violations))
	if r.CPU.ServerPID > 0 {
		fmt.Fprintf(w, "rush: CPU over the load phase: server %.2fs (%.1f µs per acknowledged sale; %.2fs waiting for a core) | generator %.2fs (%.1f µs per request, %d procs)\n",
			r.CPU.ServerSeconds, r.CPU.ServerUsPerSale, r.CPU.ServerRunQueueSeconds, r.CPU.GeneratorSeconds, r.CPU.GeneratorUsPerReq, r.CPU.GeneratorProcs)
	}
	for i, v := range r.Violations {
		if i == 10 {
			fmt.Fprintf(w, "  … %d more in report.json\n", len(r.Violations)-10)
			break
		}
		fmt.Fprintf(w, "  VIOLATION %s\n", v)
	}
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// splitTargets parses --target: one base URL, or several ledger nodes
// separated by commas (sales are spread over them; setup and checks use the
// first).
func splitTargets(v string) []string {
	var out []string
	for _, t := range strings.Split(v, ",") {
		if t = strings.TrimSuffix(strings.TrimSpace(t), "/"); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// soldOutlets is the outlets at which the run acknowledged a sale.
func (e *engine) soldOutlets() []*outletState {
	var sold []*outletState
	for _, o := range e.outlets {
		o.mu.Lock()
		if o.sold > 0 {
			sold = append(sold, o)
		}
		o.mu.Unlock()
	}
	return sold
}

// eachConcurrently calls fn for each item from n goroutines and returns when
// all calls have; once ctx is done the items not yet started are left.
func eachConcurrently[T any](ctx context.Context, n int, items []T, fn func(T)) {
	var wg sync.WaitGroup
	next := make(chan T)
	for range n {
		wg.Go(func() {
			for it := range next {
				fn(it)
			}
		})
	}
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		next <- it
	}
	close(next)
	wg.Wait()
}
