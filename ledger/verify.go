package ledger

import (
	"context"
	"fmt"
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

func (l *Ledger) verify(ctx context.Context, store publicmask.AuditReader) (*VerifyReport, error) {
	rep := &VerifyReport{Violations: []Violation{}}
	add := func(v Violation) {
		if len(rep.Violations) < maxViolations {
			rep.Violations = append(rep.Violations, v)
		}
	}
	totals, err := store.OutletTotals(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range totals {
		if t.Shortfall != t.ShortfallCorrections {
			add(Violation{Kind: "shortfall_unlinked", Outlet: t.Code,
				Message: fmt.Sprintf("late sales took %d masks beyond the stock but their shortfall corrections add %d", t.Shortfall, t.ShortfallCorrections)})
		}
		if t.Stock < 0 {
			add(Violation{Kind: "negative_stock", Outlet: t.Code, Message: fmt.Sprintf("stock %d is below zero", t.Stock)})
		}
		if want := t.Delivered - t.Sold + t.Corrections; t.Stock != want {
			add(Violation{Kind: "stock_mismatch", Outlet: t.Code,
				Message: fmt.Sprintf("stock %d but deliveries %d − sales %d + corrections %d = %d", t.Stock, t.Delivered, t.Sold, t.Corrections, want)})
		}
	}
	rep.Checked.Outlets = len(totals)

	outlets, _, err := store.Outlets(ctx)
	if err != nil {
		return nil, err
	}
	types := make(map[string]string, len(outlets))
	for _, o := range outlets {
		types[o.Code] = o.Type
	}
	pol := l.cfg.Policy.Load()
	since := l.retentionStart(l.Now())
	type pwKey struct{ person, week string }
	type tally struct {
		publicmask.PersonWeek
		recorded bool // a person-week row exists for it
	}
	// Memory is proportional to the sales in the window, not to the
	// person-week rows (a million of them stream past without being kept).
	usage := make(map[pwKey]*tally)
	err = store.SalesSince(ctx, since, func(s publicmask.Sale) error {
		if !s.CancelledAt.IsZero() {
			return nil
		}
		rep.Checked.Sales++
		ps := make([]policy.Person, len(s.Items))
		tallies := make([]*tally, len(s.Items))
		for i, it := range s.Items {
			acc := usage[pwKey{it.Person, s.Week}]
			if acc == nil {
				acc = &tally{PersonWeek: publicmask.PersonWeek{Person: it.Person, Week: s.Week}}
			}
			tallies[i] = acc
			ps[i] = policy.Person{
				Role: it.Role, BirthDate: time.Date(it.BirthYear, 1, 1, 0, 0, 0, 0, time.UTC),
				Category: it.Category, Quantity: it.Quantity,
				Week: policy.Usage{Quantity: acc.Quantity, Purchases: acc.Purchases, WeekdayPurchases: acc.WeekdayPurchases, WeekendPurchases: acc.WeekendPurchases},
			}
		}
		if s.Conflict != "" {
			rep.Checked.Conflicts++
			rep.Conflicts++
		} else if dec := pol.Check(s.SoldAt, types[s.Outlet], ps); !dec.OK {
			add(Violation{Kind: "rule", Outlet: s.Outlet, Sale: s.ID, Week: s.Week,
				Message: fmt.Sprintf("sale breaks the rules in force at %s: %s", s.SoldAt.In(policy.Seoul).Format(time.RFC3339), dec.Reason)})
		}
		for i, it := range s.Items {
			if it.Quantity == 0 || it.Person == "" {
				continue
			}
			acc := tallies[i]
			acc.Quantity += it.Quantity
			acc.Purchases++
			if s.Weekend {
				acc.WeekendPurchases++
			} else {
				acc.WeekdayPurchases++
			}
			usage[pwKey{it.Person, s.Week}] = acc
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = store.PersonWeeksSince(ctx, since.Format(weekKeyLayout), func(pw publicmask.PersonWeek) error {
		rep.Checked.PersonWeeks++
		want := usage[pwKey{pw.Person, pw.Week}]
		if want == nil {
			want = &tally{}
		} else {
			want.recorded = true
		}
		if pw.Quantity != want.Quantity || pw.Purchases != want.Purchases ||
			pw.WeekdayPurchases != want.WeekdayPurchases || pw.WeekendPurchases != want.WeekendPurchases {
			add(Violation{Kind: "quota_record_mismatch", Person: short(pw.Person), Week: pw.Week,
				Message: fmt.Sprintf("person-week record says %d masks in %d purchases, sales say %d in %d", pw.Quantity, pw.Purchases, want.Quantity, want.Purchases)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for k, acc := range usage {
		if !acc.recorded && acc.Quantity > 0 {
			add(Violation{Kind: "sale_without_quota_record", Person: short(k.person), Week: k.week,
				Message: fmt.Sprintf("%d masks sold without a person-week record", acc.Quantity)})
		}
	}
	rep.OK = len(rep.Violations) == 0
	return rep, nil
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
