package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/rrn"
)

// Bounds of a sale's time (DESIGN.md §4.3).
const (
	maxFutureSkew = 5 * time.Minute
	// lateAfter: a sale whose sold_at is less old than this, and that the
	// counter did not send from its offline outbox, is judged live (refused
	// if it breaks a rule); otherwise any client could skip every check by
	// sending sold_at one second in the past.
	lateAfter       = time.Minute
	weekKeyLayout   = "2006-01-02"
	receiptOutcomes = "ok"
)

// person is one parsed participant of a sale or check.
type person struct {
	role     string
	key      string
	birth    time.Time
	category string
	quantity int
}

// parsePersons validates the buyer, the persons bought for and the
// quantities, and derives the person keys. The raw IDs go no further than
// this function. Every error is a *publicmask.Error with a contract code.
func (l *Ledger) parsePersons(pol *policy.Policy, at time.Time, buyer string, buyerQty int, others []PersonInput) ([]person, error) {
	if len(others) > publicmask.MaxProxiesPerSale {
		return nil, publicmask.Errorf(publicmask.EBadRequest, "on_behalf_of: at most %d persons", publicmask.MaxProxiesPerSale)
	}
	verify := pol.VerifyCheckDigit(at)
	id, err := rrn.Parse(buyer, verify)
	if err != nil {
		return nil, prefixErr("buyer", err)
	}
	if buyerQty < 0 || buyerQty > publicmask.MaxQuantityPerPerson {
		return nil, publicmask.Errorf(publicmask.EBadRequest, "quantity: must be 0–%d", publicmask.MaxQuantityPerPerson)
	}
	ps := make([]person, 0, 1+len(others))
	ps = append(ps, person{role: policy.RoleBuyer, key: string(l.cfg.Keyer.Key(id)), birth: id.BirthDate(), quantity: buyerQty})
	total := buyerQty
	for i, o := range others {
		f := fmt.Sprintf("on_behalf_of[%d]", i)
		pid, err := rrn.Parse(o.ID, verify)
		if err != nil {
			return nil, prefixErr(f+".id", err)
		}
		if !policy.ValidCategory(o.Category) {
			return nil, publicmask.Errorf(publicmask.EBadRequest, "%s.category: unknown category (one of %s)", f, strings.Join(policy.Categories(), ", "))
		}
		if o.Quantity < 1 || o.Quantity > publicmask.MaxQuantityPerPerson {
			return nil, publicmask.Errorf(publicmask.EBadRequest, "%s.quantity: must be 1–%d", f, publicmask.MaxQuantityPerPerson)
		}
		p := person{role: policy.RoleProxy, key: string(l.cfg.Keyer.Key(pid)), birth: pid.BirthDate(), category: o.Category, quantity: o.Quantity}
		for _, prev := range ps {
			if prev.key == p.key {
				return nil, publicmask.Errorf(publicmask.EBadRequest, "%s names a person already in this sale", f)
			}
		}
		ps = append(ps, p)
		total += o.Quantity
	}
	if total < 1 {
		return nil, publicmask.Errorf(publicmask.EBadRequest, "quantity: must be 1–%d (0 only when buying on_behalf_of others)", publicmask.MaxQuantityPerPerson)
	}
	return ps, nil
}

func prefixErr(field string, err error) error {
	return publicmask.Errorf(publicmask.ErrorCode(err), "%s: %s", field, publicmask.ErrorMessage(err))
}

func policyPersons(ps []person, usage map[string]publicmask.PersonWeek) []policy.Person {
	out := make([]policy.Person, len(ps))
	for i, p := range ps {
		pw := usage[p.key]
		out[i] = policy.Person{
			Role: p.role, BirthDate: p.birth, Category: p.category, Quantity: p.quantity,
			Week: policy.Usage{Quantity: pw.Quantity, Purchases: pw.Purchases, WeekdayPurchases: pw.WeekdayPurchases, WeekendPurchases: pw.WeekendPurchases},
		}
	}
	return out
}

func keysOf(ps []person) []string {
	keys := make([]string, len(ps))
	for i, p := range ps {
		keys[i] = p.key
	}
	return keys
}

// saleTime decides when a sale counts (DESIGN.md §4.3): a live sale now; a
// late one — sold_at more than a minute old, or sent from the offline
// outbox — at its sold_at, if inside the policy's late window.
func saleTime(pol *policy.Policy, now time.Time, soldAt time.Time, offline bool) (time.Time, bool, error) {
	if soldAt.IsZero() {
		if offline {
			return now, false, publicmask.Errorf(publicmask.EBadRequest, "sold_at: required with offline")
		}
		return now, false, nil
	}
	if soldAt.After(now.Add(maxFutureSkew)) {
		return now, false, publicmask.Errorf(publicmask.EBadRequest, "sold_at: in the future")
	}
	if !offline && !soldAt.Before(now.Add(-lateAfter)) {
		return now, false, nil
	}
	if w := pol.Late(); soldAt.Before(now.Add(-w)) {
		return now, true, publicmask.Errorf(publicmask.ELateSaleTooOld, "sold_at: older than the late window (%s)", w)
	}
	if soldAt.After(now) {
		soldAt = now // within the clock skew allowed
	}
	return soldAt, true, nil
}

// prepared is a sale or check request with its persons parsed and its time
// decided: everything that needs no store.
type prepared struct {
	pol    *policy.Policy
	at     time.Time
	late   bool
	online bool // late only: the outlet was seen online after sold_at
	week   string
	ps     []person
	total  int
}

func (l *Ledger) prepare(ctx context.Context, req SaleRequest) (*prepared, error) {
	now := l.Now()
	pol := l.cfg.Policy.Load()
	at, late, err := saleTime(pol, now, req.SoldAt, req.Offline)
	if err != nil {
		return nil, err
	}
	ps, err := l.parsePersons(pol, at, req.Buyer, req.Quantity, req.OnBehalfOf)
	if err != nil {
		return nil, err
	}
	p := &prepared{pol: pol, at: at, late: late, week: policy.WeekStart(at).Format(weekKeyLayout), ps: ps}
	for _, x := range ps {
		p.total += x.quantity
	}
	if late {
		// Writes recorded up to now − margin have long committed, so this
		// read outside the sale's transaction misses none of them.
		until := now.Add(-onlineMargin)
		if until.After(at) {
			p.online = l.activity.seen(req.Outlet, at, until)
			if !p.online {
				if p.online, err = l.store.OutletActive(ctx, req.Outlet, at, until); err != nil {
					return nil, err
				}
			}
		}
	}
	return p, nil
}

// verdict is the judgement on a prepared request against an outlet's state
// and the persons' usage.
type verdict struct {
	dec     policy.Decision
	pp      []policy.Person
	refusal error    // a live sale's refusal (with the persons' verdicts)
	reasons []string // a late sale's conflict reasons
	short   int      // masks beyond the stock (late sales only)
}

// judge decides a sale. A live sale that breaks a rule is refused; a late
// one is recorded and flagged (only a malformed one is refused).
func (p *prepared) judge(o *publicmask.Outlet, suspended bool, usage map[string]publicmask.PersonWeek) verdict {
	v := verdict{pp: policyPersons(p.ps, usage)}
	v.dec = p.pol.Check(p.at, o.Type, v.pp)
	if v.dec.Reason == policy.ReasonBadRequest {
		v.refusal = publicmask.Errorf(publicmask.EBadRequest, "a sale must hand over at least one mask")
		return v
	}
	if !p.late {
		switch {
		case suspended:
			v.refusal = p.refuse(v, publicmask.ESalesSuspended, "sales at this outlet are suspended")
		case !v.dec.OK:
			v.refusal = reasonErr(p, v)
		case p.total > o.Stock:
			v.refusal = p.refuse(v, publicmask.EOutOfStock, fmt.Sprintf("only %d masks in stock", max(o.Stock, 0)))
		}
		return v
	}
	if !v.dec.OK {
		v.reasons = append(v.reasons, v.dec.Reason)
	}
	if suspended {
		v.reasons = append(v.reasons, publicmask.ESalesSuspended)
	}
	if p.total > o.Stock {
		v.short = p.total - o.Stock
		v.reasons = append(v.reasons, publicmask.EOutOfStock)
	}
	if p.online {
		v.reasons = append(v.reasons, publicmask.ConflictLateWhileOnline)
	}
	return v
}

// persons is every person's verdict, with what each may still buy this week
// before the purchase.
func (p *prepared) persons(v verdict) []publicmask.PersonVerdict {
	out := make([]publicmask.PersonVerdict, len(p.ps))
	for i, x := range p.ps {
		d := v.dec.Persons[i]
		pv := publicmask.PersonVerdict{Role: x.role, Eligible: d.Eligible}
		if d.Reason != "" {
			r := d.Reason
			pv.Reason = &r
		}
		if d.Remaining >= 0 {
			r := d.Remaining
			pv.RemainingThisWeek = &r
		}
		if d.NextDate != "" {
			nd := d.NextDate
			pv.NextDate = &nd
		}
		out[i] = pv
	}
	return out
}

func (p *prepared) refuse(v verdict, code, msg string) error {
	return &publicmask.Error{Code: code, Message: msg, Persons: p.persons(v)}
}

// Sell checks and records a sale. replayed is true when txn_id was seen with
// the same body and the first receipt is returned again.
func (l *Ledger) Sell(ctx context.Context, req SaleRequest) (*Receipt, bool, error) {
	if !validTxnID(req.TxnID) {
		return nil, false, publicmask.Errorf(publicmask.EBadRequest, "txn_id must be 1–64 characters of A–Z a–z 0–9 . _ : -")
	}
	p, err := l.prepare(ctx, req)
	if err != nil {
		l.m.sales.WithLabelValues(publicmask.ErrorCode(err)).Inc()
		return nil, false, err
	}
	hash := saleHash(req, p.ps)
	keys := keysOf(p.ps)
	type out struct {
		r        *Receipt
		replayed bool
	}
	res, err := l.submit(ctx, &op{kind: "sale", outlet: req.Outlet, run: func(tx publicmask.Tx, b *batch) (any, error, error) {
		if rec, ok, err := tx.Idempotency(req.Outlet, req.TxnID); err != nil {
			return nil, nil, err
		} else if ok {
			return replay(rec, hash)
		}
		o, err := b.outlet(tx, req.Outlet)
		if err != nil {
			return nil, err, nil
		}
		suspended := o.Suspended
		if p.late {
			if suspended, err = tx.SuspendedAt(o.Code, p.at); err != nil {
				return nil, nil, err
			}
		}
		usage, err := tx.PersonWeeks(p.week, keys)
		if err != nil {
			return nil, nil, err
		}
		v := p.judge(o, suspended, usage)
		if v.refusal != nil {
			return nil, v.refusal, nil
		}
		weekend := p.pol.IsWeekend(p.at)
		sale := &publicmask.Sale{
			ID: newSaleID(), Outlet: o.Code, TxnID: req.TxnID, SoldAt: p.at, RecordedAt: b.now,
			Week: p.week, Weekend: weekend, Quantity: p.total, Late: p.late,
			Conflict: strings.Join(v.reasons, ","), Shortfall: v.short,
		}
		r := &Receipt{SaleID: sale.ID, SoldAt: p.at.In(policy.Seoul), Late: p.late}
		if len(v.reasons) > 0 {
			r.Conflict, r.ConflictReasons = v.reasons[0], v.reasons
		}
		for i, x := range p.ps {
			sale.Items = append(sale.Items, publicmask.SaleItem{Role: x.role, Person: x.key, Category: x.category, BirthYear: x.birth.Year(), Quantity: x.quantity})
			pw := usage[x.key]
			if x.quantity > 0 {
				pw.Person, pw.Week = x.key, p.week
				pw.Quantity += x.quantity
				pw.Purchases++
				if weekend {
					pw.WeekendPurchases++
				} else {
					pw.WeekdayPurchases++
				}
				if err := tx.PutPersonWeek(pw); err != nil {
					return nil, nil, err
				}
			}
			// What remains after this purchase, by the same rule the check
			// uses before one.
			after := v.pp[i]
			after.Week = policy.Usage{Quantity: pw.Quantity, Purchases: pw.Purchases, WeekdayPurchases: pw.WeekdayPurchases, WeekendPurchases: pw.WeekendPurchases}
			var remaining *int
			if rem := p.pol.Remaining(p.at, after); rem >= 0 {
				remaining = &rem
			}
			r.Items = append(r.Items, ReceiptItem{Role: x.role, Quantity: x.quantity, RemainingThisWeek: remaining})
		}
		if err := tx.InsertSale(sale); err != nil {
			return nil, nil, err
		}
		o.Stock -= p.total
		o.Sold += p.total
		if v.short > 0 {
			// The masks were handed over: stock cannot have been lower than
			// what went out. Set it to 0, accounted for by a correction.
			c := &publicmask.Correction{ID: "c" + timeOrderedID(), Outlet: o.Code, TxnID: req.TxnID, Kind: publicmask.CorrectionShortfall,
				SaleID: sale.ID, Count: 0, Delta: v.short, At: b.now}
			if err := tx.InsertCorrection(c); err != nil {
				return nil, nil, err
			}
			o.Stock += v.short
		}
		if err := b.save(tx, o); err != nil {
			return nil, nil, err
		}
		r.Outlet = StockView{Stock: o.Stock, RemainStat: o.RemainStat()}
		body, err := json.Marshal(r)
		if err != nil {
			return nil, nil, err
		}
		if err := tx.PutIdempotency(publicmask.IdemRecord{Outlet: o.Code, TxnID: req.TxnID, BodyHash: hash, Response: body, CreatedAt: b.now}); err != nil {
			return nil, nil, err
		}
		r.raw = body
		return out{r: r}, nil, nil
	}})
	if err != nil {
		l.m.sales.WithLabelValues(publicmask.ErrorCode(err)).Inc()
		return nil, false, err
	}
	switch v := res.(type) {
	case out:
		l.m.sales.WithLabelValues(outcome(v.r)).Inc()
		l.m.masks.Add(float64(saleTotal(v.r)))
		return v.r, false, nil
	case replayed:
		l.m.sales.WithLabelValues("replayed").Inc()
		var r Receipt
		if err := json.Unmarshal(v.body, &r); err != nil {
			return nil, false, fmt.Errorf("ledger: stored receipt: %w", err)
		}
		r.raw = v.body
		return &r, true, nil
	}
	return nil, false, fmt.Errorf("ledger: unexpected result %T", res)
}

func outcome(r *Receipt) string {
	if r.Conflict != "" {
		return "conflict"
	}
	return receiptOutcomes
}

func saleTotal(r *Receipt) int {
	n := 0
	for _, it := range r.Items {
		n += it.Quantity
	}
	return n
}

// replayed is a stored first answer.
type replayed struct{ body []byte }

// replay answers a txn_id seen before: the first answer if the body is the
// same, txn_conflict otherwise.
func replay(rec publicmask.IdemRecord, hash string) (any, error, error) {
	if rec.BodyHash != hash {
		return nil, publicmask.Errorf(publicmask.ETxnConflict, "txn_id %q was already used with a different request", rec.TxnID), nil
	}
	return replayed{body: rec.Response}, nil, nil
}

// reasonErr is a live sale's refusal by the rules: the code, a message that
// names the first refused person, and every person's verdict.
func reasonErr(p *prepared, v verdict) error {
	dec := v.dec
	msg := map[string]string{
		publicmask.ENotEligibleToday: "not eligible to buy today",
		publicmask.EQuotaExceeded:    "weekly quota or purchase limit reached",
		publicmask.ESalesClosed:      "public-mask sales are closed",
		publicmask.EOutletClosed:     "this outlet does not sell today",
		publicmask.EProxyNotAllowed:  "buying for this person is not allowed",
	}[dec.Reason]
	if msg == "" {
		msg = dec.Reason
	}
	for i, pv := range dec.Persons {
		if !pv.Eligible && pv.Reason == dec.Reason {
			who := "buyer"
			if i > 0 {
				who = "on_behalf_of[" + strconv.Itoa(i-1) + "]"
			}
			msg = who + ": " + msg
			if pv.NextDate != "" {
				msg += " (next possible date " + pv.NextDate + ")"
			}
			break
		}
	}
	return p.refuse(v, dec.Reason, msg)
}

// saleHash identifies a sale request for idempotency. It hashes person keys,
// not raw IDs, so hyphenated and plain forms of one ID are the same request.
func saleHash(req SaleRequest, ps []person) string {
	h := sha256.New()
	fmt.Fprintf(h, "sale\x00%s\x00%s", req.Outlet, req.TxnID)
	for _, p := range ps {
		fmt.Fprintf(h, "\x00%s|%s|%s|%d", p.role, p.key, p.category, p.quantity)
	}
	// sold_at is left out: an offline outbox may retry a sale whose first,
	// live attempt reached the server, adding the time it was handed over;
	// that retry is the same sale and must get the first answer.
	return hex.EncodeToString(h.Sum(nil))
}

// Check tells, recording nothing, what the sale in req would get: the same
// parsing, the same time rules and the same judgement as Sell, from the
// committed state (a sale racing it may still change the answer). TxnID is
// ignored. For a late sale, Eligible false with a Reason means it would be
// recorded but flagged with that reason.
func (l *Ledger) Check(ctx context.Context, req SaleRequest) (*CheckResult, error) {
	p, err := l.prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	var v verdict
	if p.late {
		// Rare: judged inside the writer, against the suspension history
		// and usage exactly as the sale would read them; nothing is written.
		res, err := l.submit(ctx, &op{kind: "check", outlet: req.Outlet, run: func(tx publicmask.Tx, b *batch) (any, error, error) {
			o, err := b.outlet(tx, req.Outlet)
			if err != nil {
				return nil, err, nil
			}
			suspended, err := tx.SuspendedAt(o.Code, p.at)
			if err != nil {
				return nil, nil, err
			}
			usage, err := tx.PersonWeeks(p.week, keysOf(p.ps))
			if err != nil {
				return nil, nil, err
			}
			return p.judge(o, suspended, usage), nil, nil
		}})
		if err != nil {
			return nil, err
		}
		v = res.(verdict)
	} else {
		o, err := l.store.Outlet(ctx, req.Outlet)
		if err != nil {
			return nil, err
		}
		usage, err := l.store.PersonWeeks(ctx, p.week, keysOf(p.ps))
		if err != nil {
			return nil, err
		}
		v = p.judge(&o, o.Suspended, usage)
	}
	res := &CheckResult{Eligible: true, Persons: p.persons(v), Late: p.late}
	switch {
	case v.refusal != nil:
		if publicmask.ErrorCode(v.refusal) == publicmask.EBadRequest {
			return nil, v.refusal
		}
		res.Eligible = false
		r := publicmask.ErrorCode(v.refusal)
		res.Reason = &r
	case len(v.reasons) > 0:
		res.Eligible = false
		r := v.reasons[0]
		res.Reason = &r
		res.ConflictReasons = v.reasons
	}
	return res, nil
}

// Cancel voids a sale of this outlet: quota, purchase counts and stock return.
// Cancelling a cancelled sale answers the first cancellation again.
func (l *Ledger) Cancel(ctx context.Context, outlet, saleID string) (*CancelReceipt, error) {
	res, err := l.submit(ctx, &op{kind: "cancel", outlet: outlet, run: func(tx publicmask.Tx, b *batch) (any, error, error) {
		s, err := tx.Sale(saleID)
		if publicmask.ErrorCode(err) == publicmask.ENotFound || (err == nil && s.Outlet != outlet) {
			return nil, publicmask.Errorf(publicmask.ENotFound, "sale %q not found at this outlet", saleID), nil
		}
		if err != nil {
			return nil, nil, err
		}
		o, err := b.outlet(tx, outlet)
		if err != nil {
			return nil, nil, err
		}
		if !s.CancelledAt.IsZero() {
			return &CancelReceipt{SaleID: s.ID, CancelledAt: s.CancelledAt.In(policy.Seoul), Outlet: StockView{Stock: o.Stock, RemainStat: o.RemainStat()}}, nil, nil
		}
		keys := make([]string, 0, len(s.Items))
		for _, it := range s.Items {
			if it.Person != "" && it.Quantity > 0 {
				keys = append(keys, it.Person)
			}
		}
		usage, err := tx.PersonWeeks(s.Week, keys)
		if err != nil {
			return nil, nil, err
		}
		for _, k := range keys {
			pw, ok := usage[k]
			if !ok {
				continue // purged after the retention window: nothing to give back
			}
			for _, it := range s.Items {
				if it.Person == k {
					pw.Quantity = max(pw.Quantity-it.Quantity, 0)
				}
			}
			pw.Purchases = max(pw.Purchases-1, 0)
			if s.Weekend {
				pw.WeekendPurchases = max(pw.WeekendPurchases-1, 0)
			} else {
				pw.WeekdayPurchases = max(pw.WeekdayPurchases-1, 0)
			}
			if err := tx.PutPersonWeek(pw); err != nil {
				return nil, nil, err
			}
		}
		if err := tx.MarkSaleCancelled(s.ID, b.now); err != nil {
			return nil, nil, err
		}
		o.Stock += s.Quantity
		o.Sold -= s.Quantity
		if s.Shortfall > 0 {
			// The late sale's shortfall correction goes too: stock returns
			// to what it was before the sale, never below zero.
			c := &publicmask.Correction{ID: "c" + timeOrderedID(), Outlet: o.Code, TxnID: s.TxnID, Kind: publicmask.CorrectionShortfallReversed,
				SaleID: s.ID, Count: o.Stock - s.Shortfall, Delta: -s.Shortfall, At: b.now}
			if err := tx.InsertCorrection(c); err != nil {
				return nil, nil, err
			}
			o.Stock -= s.Shortfall
		}
		if err := b.save(tx, o); err != nil {
			return nil, nil, err
		}
		return &CancelReceipt{SaleID: s.ID, CancelledAt: b.now.In(policy.Seoul), Outlet: StockView{Stock: o.Stock, RemainStat: o.RemainStat()}}, nil, nil
	}})
	if err != nil {
		return nil, err
	}
	return res.(*CancelReceipt), nil
}
