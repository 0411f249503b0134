package ledger

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/policy"
)

// maxViolations bounds the report; the count of checks still covers all.
const maxViolations = 1000

// retentionStart is the Monday of the oldest week whose person-level rows
// are kept.
func (l *Ledger) retentionStart(now time.Time) time.Time {
	return policy.WeekStart(now).AddDate(0, 0, -7*l.cfg.RetentionWeeks)
}

// Verify checks every invariant of the ledger: each outlet's stock equals
// deliveries − sales + corrections; inside the retention window every sale
// obeys the rules in force when it happened, every person-week record equals
// the sales it sums, and no sale lacks its record. Late offline sales that
// broke a rule are counted as conflicts, not violations.
func (l *Ledger) Verify(ctx context.Context) (*VerifyReport, error) {
	var rep *VerifyReport
	// One snapshot for every read: sales committing meanwhile must not show
	// in one read and not in the next.
	err := l.store.Audit(ctx, func(r publicmask.AuditReader) error {
		var err error
		rep, err = l.verify(ctx, r)
		return err
	})
	return rep, err
}

// report collects violations, bounded by maxViolations.
type report struct{ *VerifyReport }

func (r report) add(v Violation) {
	if len(r.Violations) < maxViolations {
		r.Violations = append(r.Violations, v)
	}
}

func (l *Ledger) verify(ctx context.Context, store publicmask.AuditReader) (*VerifyReport, error) {
	rep := report{&VerifyReport{Violations: []Violation{}}}
	if err := rep.checkTotals(ctx, store); err != nil {
		return nil, err
	}
	since := l.retentionStart(l.Now())
	usage, err := l.replaySales(ctx, store, since, rep)
	if err != nil {
		return nil, err
	}
	if err := rep.checkPersonWeeks(ctx, store, since, usage); err != nil {
		return nil, err
	}
	usage.unrecorded(func(person, week string, u publicmask.Usage) {
		rep.add(Violation{Kind: "sale_without_quota_record", Person: person, Week: week,
			Message: fmt.Sprintf("%d masks sold without a person-week record", u.Quantity)})
	})
	rep.OK = len(rep.Violations) == 0
	return rep.VerifyReport, nil
}

// checkTotals: every outlet's stock is deliveries − sales + corrections,
// never negative, and shortfalls are matched by their corrections.
func (rep report) checkTotals(ctx context.Context, store publicmask.AuditReader) error {
	totals, err := store.OutletTotals(ctx)
	if err != nil {
		return err
	}
	for _, t := range totals {
		if t.Shortfall != t.ShortfallCorrections {
			rep.add(Violation{Kind: "shortfall_unlinked", Outlet: t.Code,
				Message: fmt.Sprintf("late sales took %d masks beyond the stock but their shortfall corrections add %d", t.Shortfall, t.ShortfallCorrections)})
		}
		if t.Stock < 0 {
			rep.add(Violation{Kind: "negative_stock", Outlet: t.Code, Message: fmt.Sprintf("stock %d is below zero", t.Stock)})
		}
		if want := t.Delivered - t.Sold + t.Corrections; t.Stock != want {
			rep.add(Violation{Kind: "stock_mismatch", Outlet: t.Code,
				Message: fmt.Sprintf("stock %d but deliveries %d − sales %d + corrections %d = %d", t.Stock, t.Delivered, t.Sold, t.Corrections, want)})
		}
	}
	rep.Checked.Outlets = len(totals)
	return nil
}

// replaySales judges every sale since the retention start again, in the
// order they were judged, against the usage the sales before it add up to;
// it returns that usage. Memory is proportional to the sales in the window,
// not to the person-week rows (a million of them stream past without being
// kept).
func (l *Ledger) replaySales(ctx context.Context, store publicmask.AuditReader, since time.Time, rep report) (*usageTable, error) {
	outlets, _, err := store.Outlets(ctx)
	if err != nil {
		return nil, err
	}
	// The outlets' current types, for the sales recorded without the one
	// they were judged with (saleType).
	types := make(map[string]string, len(outlets))
	for _, o := range outlets {
		types[o.Code] = o.Type
	}
	pol := l.cfg.Policy.Load()
	usage := newUsageTable()
	txns := newTxnSet()
	err = store.SalesSince(ctx, since, func(s publicmask.Sale) error {
		txns.add(s.Outlet, s.TxnID)
		if !s.CancelledAt.IsZero() {
			return nil
		}
		rep.Checked.Sales++
		ps := make([]policy.Person, len(s.Items))
		// Every person is judged on the usage before this sale, all read
		// before any of its items is added.
		for i, it := range s.Items {
			ps[i] = policy.Person{
				Role: it.Role, BirthDate: time.Date(it.BirthYear, 1, 1, 0, 0, 0, 0, time.UTC),
				Category: it.Category, Quantity: it.Quantity, Week: usage.get(it.Person, s.Week),
			}
		}
		at := s.SoldAt.In(publicmask.Seoul).Format(time.RFC3339)
		// A sale counts in the week of its sold_at (a late one too): the
		// stored week is what its quota was charged to.
		if w := policy.WeekStart(s.SoldAt).Format(weekKeyLayout); s.Week != w {
			rep.add(Violation{Kind: "wrong_week", Outlet: s.Outlet, Sale: s.ID, Week: s.Week,
				Message: fmt.Sprintf("sale made at %s is counted in the week of %s, not of %s", at, s.Week, w)})
		}
		dec := pol.Check(s.SoldAt, saleType(s, types), ps)
		if s.Conflict != "" && !s.Late {
			// Only a late sale may be recorded against a rule: a flag on a
			// live one would hide what it broke (and it is judged as live).
			rep.add(Violation{Kind: "conflict_not_late", Outlet: s.Outlet, Sale: s.ID, Week: s.Week,
				Message: fmt.Sprintf("live sale at %s is flagged as a late sale's conflict (%s)", at, s.Conflict)})
		}
		switch {
		case s.Conflict != "" && s.Late:
			rep.Checked.Conflicts++
			rep.Conflicts++
			// The ledger flags a late sale that breaks a rule with a rule's
			// code (the first it met, which may not be dec.Reason: it judged
			// with the usage of the moment, cancelled sales included, and
			// verify's usage is never more); a sale flagged only for
			// something else hides a broken rule from review.
			if !dec.OK && !slices.ContainsFunc(publicmask.ConflictReasons(s.Conflict), isRuleReason) {
				rep.add(Violation{Kind: "conflict_reason_missing", Outlet: s.Outlet, Sale: s.ID, Week: s.Week,
					Message: fmt.Sprintf("late sale at %s breaks the rules (%s) but is flagged only with %s", at, dec.Reason, s.Conflict)})
			}
		case !dec.OK:
			rep.add(Violation{Kind: "rule", Outlet: s.Outlet, Sale: s.ID, Week: s.Week,
				Message: fmt.Sprintf("sale breaks the rules in force at %s: %s", at, dec.Reason)})
		}
		for _, it := range s.Items {
			if it.Quantity > 0 && it.Person != "" {
				usage.add(it.Person, s.Week, it.Quantity, s.Weekend)
			}
		}
		return nil
	})
	if err == nil && len(txns.again) > 0 {
		err = txns.report(ctx, store, since, rep)
	}
	return usage, err
}

// txnSet finds two sales of one outlet with one txn_id: a retry recorded
// as a second sale (its idempotency record lost or not consulted). Inside
// the window there can be none: a sale's idempotency record is kept as
// long as its sale is in the window (Purge drops both by the same cutoff).
// The first pass keeps a 64-bit hash per sale (a few bytes each, not the
// strings: the window may hold millions of sales); a hash seen twice is
// confirmed, strings compared, by a second pass over those sales only.
type txnSet struct {
	seed  maphash.Seed
	seen  map[uint64]struct{}
	again map[uint64]struct{}
}

func newTxnSet() *txnSet {
	return &txnSet{seed: maphash.MakeSeed(), seen: map[uint64]struct{}{}, again: map[uint64]struct{}{}}
}

func (t *txnSet) hash(outlet, txn string) uint64 {
	var h maphash.Hash
	h.SetSeed(t.seed)
	h.WriteString(outlet)
	h.WriteByte(0)
	h.WriteString(txn)
	return h.Sum64()
}

func (t *txnSet) add(outlet, txn string) {
	k := t.hash(outlet, txn)
	if _, ok := t.seen[k]; ok {
		t.again[k] = struct{}{}
		return
	}
	t.seen[k] = struct{}{}
}

func (t *txnSet) report(ctx context.Context, store publicmask.AuditReader, since time.Time, rep report) error {
	type key struct{ outlet, txn string }
	sales := map[key][]string{}
	var order []key
	err := store.SalesSince(ctx, since, func(s publicmask.Sale) error {
		if _, ok := t.again[t.hash(s.Outlet, s.TxnID)]; ok {
			k := key{s.Outlet, s.TxnID}
			if sales[k] == nil {
				order = append(order, k)
			}
			sales[k] = append(sales[k], s.ID)
		}
		return nil
	})
	for _, k := range order {
		if ids := sales[k]; len(ids) > 1 {
			rep.add(Violation{Kind: "duplicate_txn", Outlet: k.outlet, Sale: ids[1],
				Message: fmt.Sprintf("txn_id %q was recorded as %d sales: %v", k.txn, len(ids), ids)})
		}
	}
	return err
}

// isRuleReason: a late sale's conflict reason that names a rule of the
// policy, not the outlet's state (suspended, out of stock) or its being
// online.
func isRuleReason(r string) bool {
	switch r {
	case publicmask.ESalesSuspended, publicmask.EOutOfStock, publicmask.ConflictLateWhileOnline:
		return false
	}
	return true
}

// saleType is the outlet type a sale is judged with again: the one the
// ledger judged it with, recorded with the sale, since the outlet's type
// may have changed after it (a re-import); the outlet's current type only
// for a sale recorded before sales kept theirs.
func saleType(s publicmask.Sale, current map[string]string) string {
	if s.OutletType != "" {
		return s.OutletType
	}
	return current[s.Outlet]
}

// checkPersonWeeks: every person-week row equals the sales it sums.
func (rep report) checkPersonWeeks(ctx context.Context, store publicmask.AuditReader, since time.Time, usage *usageTable) error {
	return store.PersonWeeksSince(ctx, since.Format(weekKeyLayout), func(pw publicmask.PersonWeek) error {
		rep.Checked.PersonWeeks++
		want := usage.record(pw.Person, pw.Week)
		if pw.Usage != want {
			rep.add(Violation{Kind: "quota_record_mismatch", Person: short(pw.Person), Week: pw.Week,
				Message: fmt.Sprintf("person-week record says %d masks in %d purchases, sales say %d in %d", pw.Quantity, pw.Purchases, want.Quantity, want.Purchases)})
		}
		return nil
	})
}

func short(key string) string {
	if len(key) > 8 {
		return key[:8]
	}
	return key
}

// Purge forgets who bought in weeks before the retention window.
func (l *Ledger) Purge(ctx context.Context) (int, error) {
	week := l.retentionStart(l.Now()).Format(weekKeyLayout)
	n, err := l.store.Purge(ctx, week)
	if err != nil {
		return 0, err
	}
	if n > 0 {
		l.log.Info("purged person-week rows", "before_week", week, "rows", n)
	}
	return n, nil
}

// RunPurge purges at start and then every interval until ctx ends.
func (l *Ledger) RunPurge(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := l.Purge(ctx); err != nil && ctx.Err() == nil {
			l.log.Error("purge failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
