package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/publicmask/publicmask"
)

const receiptOutcomes = "ok"

// Sell checks and records a sale. replayed is true when txn_id was seen with
// the same body and the first receipt is returned again.
func (l *Ledger) Sell(ctx context.Context, req SaleRequest) (*Receipt, bool, error) {
	r, replayed, err := l.sell(ctx, req)
	switch {
	case err != nil:
		l.m.sales.WithLabelValues(publicmask.ErrorCode(err)).Inc()
	case replayed:
		l.m.sales.WithLabelValues("replayed").Inc()
	default:
		l.m.sales.WithLabelValues(outcome(r)).Inc()
		l.m.masks.Add(float64(saleTotal(r)))
	}
	return r, replayed, err
}

func (l *Ledger) sell(ctx context.Context, req SaleRequest) (*Receipt, bool, error) {
	if err := CheckTxnID("txn_id", req.TxnID); err != nil {
		return nil, false, err
	}
	// The outcome is waited for from here (submit), and no later than the
	// request's answer is due (outcomeBy): a late sale's read of the store
	// (prepare) spends part of the wait.
	by := l.outcomeBy(ctx, time.Now())
	p, err := l.prepare(ctx, req, by)
	if err != nil {
		return nil, false, err
	}
	so := &saleOp{op: op{kind: "sale", outlet: req.Outlet, by: by}, p: p, req: req, hash: saleHash(req, p.ps)}
	so.job = so
	if err := l.submit(ctx, &so.op); err != nil {
		return nil, false, err
	}
	r, first := so.r, so.first // first: the stored first answer, when txn_id was seen
	if first != nil {
		var stored Receipt
		if err := json.Unmarshal(first, &stored); err != nil {
			return nil, false, fmt.Errorf("ledger: stored receipt: %w", err)
		}
		stored.raw = first
		return &stored, true, nil
	}
	return r, false, nil
}

// saleOp is a sale's op, what it records and its results: the last
// record's, which is the one that committed (see op.run).
type saleOp struct {
	op
	p     *prepared
	req   SaleRequest
	hash  string
	r     *Receipt
	first []byte
}

func (s *saleOp) record(tx publicmask.Tx, b *batch) (err error) {
	s.r, s.first, err = s.p.recordSale(tx, b, s.req, s.hash)
	return err
}

func (s *saleOp) addReads(r *publicmask.BatchReads) {
	r.Idem = append(r.Idem, publicmask.IdemKey{Outlet: s.req.Outlet, TxnID: s.req.TxnID})
	s.p.weekReads(r)
}

// recordSale judges the sale against the outlet and the persons' weeks as
// this transaction sees them and, if it stands, records it; or it finds the
// txn_id's first answer (first). A refusal is returned wrapped by reject,
// with nothing written.
func (p *prepared) recordSale(tx publicmask.Tx, b *batch, req SaleRequest, hash string) (r *Receipt, first []byte, err error) {
	// A store that can claim a txn_id in the insert that records it
	// (SQLite) is asked only then, or when the sale is refused (a retry of
	// an acknowledged sale may be refused now that its own purchase
	// counts); the others are asked first (PostgreSQL locks the outlet in
	// the same round trip).
	claimer, claimFirst := tx.(publicmask.IdemClaimer)
	if !claimFirst {
		if first, ok, err := firstAnswer(tx, req.Outlet, req.TxnID, hash); err != nil || ok {
			return nil, first, err
		}
	}
	o, err := b.outlet(tx, req.Outlet)
	if err != nil {
		return nil, nil, reject(err)
	}
	suspended := o.Suspended
	if p.late {
		if suspended, err = tx.SuspendedAt(o.Code, p.at); err != nil {
			return nil, nil, err
		}
	}
	usage, err := tx.PersonWeeks(p.week, keysOf(p.ps))
	if err != nil {
		return nil, nil, err
	}
	v := p.judge(o, suspended, usage)
	if v.refusal != nil {
		if claimFirst {
			if first, ok, err := firstAnswer(tx, req.Outlet, req.TxnID, hash); err != nil || ok {
				return nil, first, err
			}
		}
		return nil, nil, reject(v.refusal)
	}
	s := p.sale(req.TxnID, o, v, usage, b.now)
	body, err := s.receipt.encode()
	if err != nil {
		return nil, nil, err
	}
	// The receipt first, from what the batch holds; nothing is written
	// before the txn_id is claimed.
	idem := publicmask.IdemRecord{Outlet: o.Code, TxnID: req.TxnID, BodyHash: hash, Response: body, CreatedAt: b.now}
	if claimFirst {
		if rec, claimed, err := claimer.ClaimIdempotency(idem); err != nil {
			return nil, nil, err
		} else if !claimed {
			first, err := replay(rec, hash)
			return nil, first, err
		}
	} else if err := tx.PutIdempotency(idem); err != nil {
		return nil, nil, err
	}
	if err := s.write(tx, b, o); err != nil {
		return nil, nil, err
	}
	s.receipt.raw = body
	return s.receipt, nil, nil
}

// weekReads adds the persons' weeks the sale or check reads to a batch's
// prefetch.
func (p *prepared) weekReads(r *publicmask.BatchReads) {
	if r.PersonWeeks == nil {
		r.PersonWeeks = make(map[string][]string)
	}
	for _, x := range p.ps {
		r.PersonWeeks[p.week] = append(r.PersonWeeks[p.week], x.key)
	}
}

// newSale is what an accepted sale writes, and its receipt.
type newSale struct {
	sale    *publicmask.Sale
	weeks   []publicmask.PersonWeek // the persons' weeks after it
	short   int
	receipt *Receipt
	one     oneBuyer
}

// oneBuyer holds a sale's records, and those of its one person (nearly
// every sale), in the newSale's own allocation: they were six.
type oneBuyer struct {
	sale      publicmask.Sale
	receipt   Receipt
	item      [1]publicmask.SaleItem
	ritem     [1]ReceiptItem
	week      [1]publicmask.PersonWeek
	remaining [1]int
}

// sale builds the records of an accepted sale from the outlet and usage
// the verdict was given on.
func (p *prepared) sale(txnID string, o *publicmask.Outlet, v verdict, usage map[string]publicmask.PersonWeek, now time.Time) *newSale {
	weekend := p.pol.IsWeekend(p.at)
	s := &newSale{short: v.short}
	sale, r := &s.one.sale, &s.one.receipt
	*sale = publicmask.Sale{
		ID: newSaleID(), Outlet: o.Code, TxnID: txnID, SoldAt: p.at, RecordedAt: now,
		Week: p.week, Weekend: weekend, Quantity: p.total, Late: p.late,
		Conflict: strings.Join(v.reasons, ","), Shortfall: v.short,
		OutletType: o.Type, // what judge gave the verdict with
	}
	*r = Receipt{SaleID: sale.ID, SoldAt: p.at.In(publicmask.Seoul), Late: p.late}
	if len(v.reasons) > 0 {
		r.Conflict, r.ConflictReasons = v.reasons[0], v.reasons
	}
	s.sale, s.receipt = sale, r
	rems := s.one.remaining[:]
	if len(p.ps) == 1 {
		sale.Items, r.Items, s.weeks = s.one.item[:0], s.one.ritem[:0], s.one.week[:0]
	} else {
		s.weeks = make([]publicmask.PersonWeek, 0, len(p.ps))
		rems = make([]int, len(p.ps))
	}
	for i, x := range p.ps {
		sale.Items = append(sale.Items, publicmask.SaleItem{Role: x.role, Person: x.key, Category: x.category, BirthYear: x.birth.Year(), Quantity: x.quantity})
		pw := usage[x.key]
		if x.quantity > 0 {
			pw.Person, pw.Week = x.key, p.week
			pw.Add(x.quantity, weekend)
			s.weeks = append(s.weeks, pw)
		}
		// What remains after this purchase, by the same rule the check
		// uses before one.
		after := v.pp[i]
		after.Week = pw.Usage
		var remaining *int
		if rem := p.pol.Remaining(p.at, after); rem >= 0 {
			rems[i] = rem
			remaining = &rems[i]
		}
		r.Items = append(r.Items, ReceiptItem{Role: x.role, Quantity: x.quantity, RemainingThisWeek: remaining})
	}
	// The masks were handed over: stock cannot have been lower than what
	// went out. A shortfall sets it to 0, accounted for by a correction.
	stock := o.Stock - p.total + v.short
	after := *o
	after.Stock = stock
	r.Outlet = StockView{Stock: stock, RemainStat: after.RemainStat()}
	return s
}

// write records the sale, its persons' weeks, its shortfall correction and
// the outlet's new stock.
func (s *newSale) write(tx publicmask.Tx, b *batch, o *publicmask.Outlet) error {
	for _, pw := range s.weeks {
		if err := tx.PutPersonWeek(pw); err != nil {
			return err
		}
	}
	if err := tx.InsertSale(s.sale); err != nil {
		return err
	}
	if s.short > 0 {
		c := &publicmask.Correction{ID: "c" + timeOrderedID(), Outlet: o.Code, TxnID: s.sale.TxnID, Kind: publicmask.CorrectionShortfall,
			SaleID: s.sale.ID, Count: 0, Delta: s.short, At: b.now}
		if err := tx.InsertCorrection(c); err != nil {
			return err
		}
	}
	o.Stock = s.receipt.Outlet.Stock
	o.Sold += s.sale.Quantity
	return b.save(tx, o)
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

// firstAnswer looks txn_id up: ok with the first answer if it was seen with
// the same body, a txn_conflict refusal if with another.
func firstAnswer(tx publicmask.Tx, outlet, txnID, hash string) (first []byte, ok bool, err error) {
	rec, ok, err := tx.Idempotency(outlet, txnID)
	if err != nil || !ok {
		return nil, false, err
	}
	first, err = replay(rec, hash)
	return first, true, err
}

// replay answers a txn_id seen before: the first answer if the body is the
// same, a txn_conflict refusal otherwise.
func replay(rec publicmask.IdemRecord, hash string) ([]byte, error) {
	if rec.BodyHash != hash {
		return nil, reject(publicmask.Errorf(publicmask.ETxnConflict, "txn_id %q was already used with a different request", rec.TxnID))
	}
	rec, err := fullRecord(rec)
	return rec.Response, err
}
