package rush

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

type receipt struct {
	SaleID string        `json:"sale_id"`
	SoldAt time.Time     `json:"sold_at"`
	Items  []receiptItem `json:"items"`
	Outlet struct {
		Stock      int    `json:"stock"`
		RemainStat string `json:"remain_stat"`
	} `json:"outlet"`
}

type receiptItem struct {
	Role     string `json:"role"`
	Quantity int    `json:"quantity"`
}

// rejectCodes are the intended answers to the buyers the rush sends. The
// rules' refusals count, outlet_closed included: the rush sells at every
// outlet, and on a server whose date is a weekend the post offices are
// closed (standard policy), which is the rules' answer, not a failure.
var rejectCodes = map[string]bool{
	"not_eligible_today": true, "quota_exceeded": true, "out_of_stock": true,
	"sales_suspended": true, "invalid_id": true, "outlet_closed": true,
}

// post sends one sale attempt; it answers the status, the body and the
// Retry-After header.
func (e *engine) post(token string, body []byte) (int, []byte, string, error) {
	base := e.sellBase()
	if t := e.rawSales.target(base); t != nil {
		a, err := e.rawSales.do(t, http.MethodPost, "/api/v2/outlet/sales",
			[]string{"Authorization", "Bearer " + token, "Content-Type", "application/json"}, body, nil, nil)
		return a.status, a.body, a.retryAfter, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v2/outlet/sales", bytes.NewReader(body))
	if err != nil {
		return 0, nil, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.salesC.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, b, resp.Header.Get("Retry-After"), err
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
		after  string
	)
	const attempts = 4
	retried := false
	for a := 1; a <= attempts; a++ {
		e.salesAttempt.Add(1)
		status, b, after, err = e.post(j.outlet.token, body)
		retry := err != nil || status == http.StatusServiceUnavailable
		if !retry || a == attempts {
			break
		}
		e.salesRetries.Add(1)
		retried = true
		wait := time.Duration(a) * 50 * time.Millisecond
		if s, perr := strconv.Atoi(after); perr == nil && err == nil {
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
	case status == http.StatusCreated:
		code = "201" // strconv.Itoa's, without its allocation
	case status == http.StatusOK:
		code = "200"
	default:
		code = errorCode(b)
	}
	e.outcome(j.kind, code)
	switch {
	case err == nil && (status == http.StatusCreated || status == http.StatusOK):
		var r receipt
		if jerr := parseReceipt(b, &r); jerr != nil || r.SaleID == "" {
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
		e.acked(j, &r, body, b, now)
	case err == nil && status/100 == 4 && rejectCodes[code]:
		if j.kind == kindFresh && (code == "not_eligible_today" || code == "invalid_id") {
			e.refusedEligible(j, code)
		}
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

// refusedEligible notes a buyer of today's birth years with a valid ID
// refused as not eligible today or as a mistyped ID: the server's wrong,
// unless its date changed during the run (eligibleCheck decides at the end).
func (e *engine) refusedEligible(j *saleJob, code string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.eligibleRefused++
	if len(e.eligibleRefusedAt) < 100 {
		e.eligibleRefusedAt = append(e.eligibleRefusedAt, fmt.Sprintf("txn %s at outlet %s: a buyer born in %d refused %s on %s (digits %v)",
			j.txn, j.outlet.code, BirthYear(j.buyer), code, e.rules.Date, e.rules.DigitsToday))
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
// the replay sample (with the receipt's bytes: a replay must return them
// exactly, DESIGN.md §6.6).
func (e *engine) acked(j *saleJob, r *receipt, body, answer []byte, at time.Time) {
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
	// The receipt must be for the sale asked for: a counter hands over what
	// it asked for, whatever the ledger counted.
	if qty != j.qty {
		e.violate("receipt_quantity", "sale %s (txn %s) asked for %d masks, its receipt counts %d", r.SaleID, j.txn, j.qty, qty)
	}
	if r.Outlet.Stock < 0 {
		e.violate("negative_stock", "sale %s (txn %s) left outlet %s with stock %d", r.SaleID, j.txn, j.outlet.code, r.Outlet.Stock)
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
	// The record (a copy of the body) only for the sales the sample keeps.
	if len(e.replays) < e.cfg.Replay {
		e.replays = append(e.replays, replayRec{token: j.outlet.token, txn: j.txn, body: string(body), saleID: r.SaleID, receipt: string(answer)})
	} else if k := rand.Int64N(e.acks); k < int64(len(e.replays)) {
		e.replays[k] = replayRec{token: j.outlet.token, txn: j.txn, body: string(body), saleID: r.SaleID, receipt: string(answer)}
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
	path := "/api/v2/outlets/" + url.PathEscape(o.code)
	for {
		e.probeReq.Add(1)
		status, b, err := e.probeGet(path)
		if err == nil {
			if status == http.StatusOK {
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

// probeGet reads a public path for a probe: on the raw client when the
// read target is plain http (as reads: net/http's transport per request
// was about a twentieth of the generator's CPU in a capacity rush, for
// probes that are not counted as its requests), else through probeC.
// The body is kept only for a 200.
func (e *engine) probeGet(path string) (int, []byte, error) {
	if t := e.rawProbes.target(e.readBase); t != nil {
		a, err := e.rawProbes.do(t, http.MethodGet, path, nil, nil, func(status int) bool { return status == http.StatusOK }, nil)
		return a.status, a.body, err
	}
	resp, err := e.probeC.Get(e.readBase + path)
	if err != nil {
		return 0, nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, b, err
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
