package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/rrn"
)

// Bounds that keep one request from doing unreasonable work.
const (
	maxPersons    = 10
	maxPerPerson  = 100
	maxLateAge    = 7 * 24 * time.Hour
	maxFutureSkew = 5 * time.Minute
	// lateAfter: a sale whose sold_at is less old than this is judged live
	// (refused if it breaks a rule). Only an outbox sale that really waited
	// is recorded despite a broken rule; otherwise any client could skip
	// every check by sending sold_at one second in the past.
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

// parsePersons validates the buyer and the persons bought for and derives
// their keys. The raw IDs go no further than this function.
func (l *Ledger) parsePersons(pol *policy.Policy, at time.Time, buyer string, buyerQty int, others []PersonInput, forCheck bool) ([]person, error) {
	if len(others) > maxPersons {
		return nil, publicmask.Errorf(publicmask.EBadRequest, "at most %d persons may be bought for", maxPersons)
	}
	verify := pol.VerifyCheckDigit(at)
	id, err := rrn.Parse(buyer, verify)
	if err != nil {
		return nil, prefixErr("buyer", err)
	}
	if !forCheck && (buyerQty < 0 || buyerQty > maxPerPerson) {
		return nil, publicmask.Errorf(publicmask.EBadRequest, "quantity must be between 0 and %d", maxPerPerson)
	}
	ps := make([]person, 0, 1+len(others))
	ps = append(ps, person{role: policy.RoleBuyer, key: string(l.cfg.Keyer.Key(id)), birth: id.BirthDate(), quantity: buyerQty})
	total := buyerQty
	for i, o := range others {
		pid, err := rrn.Parse(o.ID, verify)
		if err != nil {
			return nil, prefixErr(fmt.Sprintf("on_behalf_of[%d]", i), err)
		}
		if !policy.ValidCategory(o.Category) {
			return nil, publicmask.Errorf(publicmask.EBadRequest, "on_behalf_of[%d].category %q is not a known category", i, o.Category)
		}
		q := o.Quantity
		if forCheck {
			q = 1
		} else if q < 1 || q > maxPerPerson {
			return nil, publicmask.Errorf(publicmask.EBadRequest, "on_behalf_of[%d].quantity must be between 1 and %d", i, maxPerPerson)
		}
		p := person{role: policy.RoleProxy, key: string(l.cfg.Keyer.Key(pid)), birth: pid.BirthDate(), category: o.Category, quantity: q}
		for _, prev := range ps {
			if prev.key == p.key {
				return nil, publicmask.Errorf(publicmask.EBadRequest, "on_behalf_of[%d] names a person already in this sale", i)
			}
		}
		ps = append(ps, p)
		total += q
	}
	if !forCheck && total < 1 {
		return nil, publicmask.Errorf(publicmask.EBadRequest, "a sale must hand over at least one mask")
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

// Sell checks and records a sale. replayed is true when txn_id was seen with
// the same body and the first receipt is returned again.
func (l *Ledger) Sell(ctx context.Context, req SaleRequest) (*Receipt, bool, error) {
	if !validTxnID(req.TxnID) {
		return nil, false, publicmask.Errorf(publicmask.EBadRequest, "txn_id must be 1–64 characters of A–Z a–z 0–9 . _ : -")
	}
	now := l.Now()
	at, late := now, false
	if !req.SoldAt.IsZero() {
		if req.SoldAt.After(now.Add(maxFutureSkew)) || req.SoldAt.Before(now.Add(-maxLateAge)) {
			return nil, false, publicmask.Errorf(publicmask.EBadRequest, "sold_at must be within the last 7 days")
		}
		if req.SoldAt.Before(now.Add(-lateAfter)) {
			at, late = req.SoldAt, true
		}
	}
	pol := l.cfg.Policy.Load()
	ps, err := l.parsePersons(pol, at, req.Buyer, req.Quantity, req.OnBehalfOf, false)
	if err != nil {
		l.m.sales.WithLabelValues(publicmask.ErrorCode(err)).Inc()
		return nil, false, err
	}
	hash := saleHash(req, ps)
	week := policy.WeekStart(at).Format(weekKeyLayout)
	keys := keysOf(ps)
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
		if o.Suspended && !late {
			return nil, publicmask.Errorf(publicmask.ESalesSuspended, "sales at this outlet are suspended"), nil
		}
		usage, err := tx.PersonWeeks(week, keys)
		if err != nil {
			return nil, nil, err
		}
		pp := policyPersons(ps, usage)
		dec := pol.Check(at, o.Type, pp)
		total := 0
		for _, p := range ps {
			total += p.quantity
		}
		conflict := ""
		if !dec.OK {
			if !late || dec.Reason == publicmask.EBadRequest {
				return nil, reasonErr(dec), nil
			}
			conflict = dec.Reason
		}
		if total > o.Stock {
			if !late {
				return nil, publicmask.Errorf(publicmask.EOutOfStock, "only %d masks in stock", o.Stock), nil
			}
			if conflict == "" {
				conflict = publicmask.EOutOfStock
			}
		}
		weekend := pol.IsWeekend(at)
		sale := &publicmask.Sale{
			ID: newSaleID(), Outlet: o.Code, TxnID: req.TxnID, SoldAt: at, RecordedAt: b.now,
			Week: week, Weekend: weekend, Quantity: total, Conflict: conflict,
		}
		r := &Receipt{SaleID: sale.ID, SoldAt: at.In(policy.Seoul), Conflict: conflict}
		for i, p := range ps {
			sale.Items = append(sale.Items, publicmask.SaleItem{Role: p.role, Person: p.key, Category: p.category, BirthYear: p.birth.Year(), Quantity: p.quantity})
			var remaining *int
			if rem := dec.Persons[i].Remaining; rem >= 0 {
				v := max(rem-p.quantity, 0)
				remaining = &v
			}
			r.Items = append(r.Items, ReceiptItem{Role: p.role, Quantity: p.quantity, RemainingThisWeek: remaining})
			if p.quantity == 0 {
				continue
			}
			pw := usage[p.key]
			pw.Person, pw.Week = p.key, week
			pw.Quantity += p.quantity
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
		if err := tx.InsertSale(sale); err != nil {
			return nil, nil, err
		}
		o.Stock -= total
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

func reasonErr(dec policy.Decision) error {
	msg := map[string]string{
		publicmask.ENotEligibleToday: "not eligible to buy today",
		publicmask.EQuotaExceeded:    "weekly quota or purchase limit reached",
		publicmask.ESalesClosed:      "public-mask sales are closed",
		publicmask.EOutletClosed:     "this outlet does not sell today",
		publicmask.EProxyNotAllowed:  "buying for this person is not allowed",
	}[dec.Reason]
	for i, v := range dec.Persons {
		if !v.Eligible && v.Reason == dec.Reason {
			who := "buyer"
			if i > 0 {
				who = "on_behalf_of[" + strconv.Itoa(i-1) + "]"
			}
			msg = who + ": " + msg
			if v.NextDate != "" {
				msg += " (next possible date " + v.NextDate + ")"
			}
			break
		}
	}
	if msg == "" {
		msg = dec.Reason
	}
	return publicmask.Errorf(dec.Reason, "%s", msg)
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

// Check tells whether a purchase would be allowed now, recording nothing.
// Each person is judged as if buying one mask.
func (l *Ledger) Check(ctx context.Context, outlet, buyer string, onBehalfOf []PersonInput) (*CheckResult, error) {
	now := l.Now()
	pol := l.cfg.Policy.Load()
	ps, err := l.parsePersons(pol, now, buyer, 1, onBehalfOf, true)
	if err != nil {
		return nil, err
	}
	o, err := l.store.Outlet(ctx, outlet)
	if err != nil {
		return nil, err
	}
	week := policy.WeekStart(now).Format(weekKeyLayout)
	usage, err := l.store.PersonWeeks(ctx, week, keysOf(ps))
	if err != nil {
		return nil, err
	}
	dec := pol.Check(now, o.Type, policyPersons(ps, usage))
	res := &CheckResult{Eligible: dec.OK}
	if o.Suspended {
		res.Eligible = false
	}
	for i, p := range ps {
		v := dec.Persons[i]
		cp := CheckPerson{Role: p.role, Eligible: v.Eligible}
		if v.Reason != "" {
			r := v.Reason
			cp.Reason = &r
		}
		if v.Remaining >= 0 {
			r := v.Remaining
			cp.RemainingThisWeek = &r
		}
		if v.NextDate != "" {
			d := v.NextDate
			cp.NextDate = &d
		}
		res.Persons = append(res.Persons, cp)
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
