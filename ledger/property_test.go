package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
)

// model is what the ledger should hold, kept independently of it: stock per
// outlet, each person's week usage, suspension intervals, the instants at
// which each outlet was seen online, and the sales.
type model struct {
	pol       *policy.Policy
	stock     map[string]int
	suspended map[string]bool
	spans     map[string][][2]time.Time // suspension [from, until); until zero = open
	seen      map[string][]time.Time    // the outlet's writes and requests
	usage     map[[2]string]policy.Usage
	sales     []*modelSale
}

type modelSale struct {
	id, outlet, person, week string
	qty, short               int
	weekend, conflict        bool
	cancelled                bool
}

func (m *model) suspendedAt(o string, t time.Time) bool {
	for _, s := range m.spans[o] {
		if !t.Before(s[0]) && (s[1].IsZero() || t.Before(s[1])) {
			return true
		}
	}
	return false
}

func (m *model) online(o string, after, until time.Time) bool {
	for _, t := range m.seen[o] {
		if t.After(after) && !t.After(until) {
			return true
		}
	}
	return false
}

// expect is the outcome the contract prescribes: a refusal code, or the
// conflict reasons of a recorded sale (nil: clean).
func (m *model) expect(o, person string, birth int, qty int, now, soldAt time.Time, offline bool) (refusal string, reasons []string, at time.Time, late bool) {
	at, late = now, offline || (!soldAt.IsZero() && soldAt.Before(now.Add(-time.Minute)))
	if late {
		if soldAt.Before(now.Add(-m.pol.Late())) {
			return publicmask.ELateSaleTooOld, nil, at, late
		}
		at = soldAt
	}
	week := policy.WeekStart(at).Format("2006-01-02")
	dec := m.pol.Check(at, publicmask.TypePharmacy, []policy.Person{{Role: policy.RoleBuyer, BirthDate: time.Date(birth, 3, 15, 0, 0, 0, 0, time.UTC), Quantity: qty, Week: m.usage[[2]string{person, week}]}})
	if !late {
		switch {
		case m.suspended[o]:
			return publicmask.ESalesSuspended, nil, at, late
		case !dec.OK:
			return dec.Reason, nil, at, late
		case qty > m.stock[o]:
			return publicmask.EOutOfStock, nil, at, late
		}
		return "", nil, at, late
	}
	if !dec.OK {
		reasons = append(reasons, dec.Reason)
	}
	if m.suspendedAt(o, at) {
		reasons = append(reasons, publicmask.ESalesSuspended)
	}
	if qty > m.stock[o] {
		reasons = append(reasons, publicmask.EOutOfStock)
	}
	if m.online(o, at, now.Add(-10*time.Minute)) {
		reasons = append(reasons, publicmask.ConflictLateWhileOnline)
	}
	return "", reasons, at, late
}

func (m *model) addUsage(s *modelSale, sign int) {
	k := [2]string{s.person, s.week}
	u := m.usage[k]
	u.Quantity += sign * s.qty
	u.Purchases += sign
	if s.weekend {
		u.WeekendPurchases += sign
	} else {
		u.WeekdayPurchases += sign
	}
	m.usage[k] = u
}

// TestLateSalesProperty is a property test against a model: random live
// and late sales (sold_at inside and outside the late window, with and
// without offline), cancels, deliveries, counts, suspends, resumes and
// requests, on a clock that moves 1–40 minutes a step. After every step
// the answer is the one the contract prescribes, the stock equals the
// model's and is never below zero; every 20 steps verify is ok and counts
// the model's conflicts.
func TestLateSalesProperty(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { lateProperty(t, seed) })
	}
}

func lateProperty(t *testing.T, seed uint64) {
	e := testenv.New(t)
	rng := rand.New(rand.NewPCG(seed, 11))
	outlets := []string{"50000001", "50000002"}
	m := &model{pol: policy.Standard(), stock: map[string]int{}, suspended: map[string]bool{}, spans: map[string][][2]time.Time{},
		seen: map[string][]time.Time{}, usage: map[[2]string]policy.Usage{}}
	for _, o := range outlets {
		e.AddOutlet(t, o, publicmask.TypePharmacy, 6)
		m.stock[o] = 6
	}
	years := []int{1983, 1988, 1984, 1981, 1986, 1990, 1955, 1977}
	people := make([]string, 12)
	for i := range people {
		people[i] = testenv.Born(years[i%len(years)], 100+i)
	}
	conflicts := 0
	for step := range 400 {
		e.Clock.Advance(time.Duration(1+rng.IntN(40)) * time.Minute)
		now := e.Clock.Now()
		o := outlets[rng.IntN(len(outlets))]
		txn := fmt.Sprintf("s%d", step)
		switch op := rng.IntN(20); {
		case op == 0:
			n := 1 + rng.IntN(8)
			if _, _, err := e.Ledger.Deliver(ctx, o, txn, n); err != nil {
				t.Fatalf("step %d deliver: %v", step, err)
			}
			m.stock[o] += n
		case op == 1:
			n := rng.IntN(5)
			if _, _, err := e.Ledger.CorrectStock(ctx, o, txn, n); err != nil {
				t.Fatalf("step %d count: %v", step, err)
			}
			m.stock[o] = n
			m.seen[o] = append(m.seen[o], now)
		case op == 2:
			on := !m.suspended[o]
			if _, err := e.Ledger.SetSuspended(ctx, o, on); err != nil {
				t.Fatalf("step %d suspend: %v", step, err)
			}
			if on {
				m.spans[o] = append(m.spans[o], [2]time.Time{now, {}})
			} else {
				m.spans[o][len(m.spans[o])-1][1] = now
			}
			m.suspended[o] = on
			m.seen[o] = append(m.seen[o], now)
		case op == 3:
			e.Ledger.NoteActivity(o)
			m.seen[o] = append(m.seen[o], now)
		case op == 4 && len(m.sales) > 0:
			s := m.sales[rng.IntN(len(m.sales))]
			if _, err := e.Ledger.Cancel(ctx, s.outlet, s.id); err != nil {
				t.Fatalf("step %d cancel: %v", step, err)
			}
			if !s.cancelled {
				s.cancelled = true
				m.stock[s.outlet] += s.qty - s.short
				m.addUsage(s, -1)
				m.seen[s.outlet] = append(m.seen[s.outlet], now)
				if s.conflict {
					conflicts--
				}
			}
		default:
			i := rng.IntN(len(people))
			qty := 1 + rng.IntN(3)
			var soldAt time.Time
			offline := rng.IntN(3) == 0
			switch rng.IntN(4) {
			case 0: // live, or an outbox sale synced within a minute
				soldAt = now.Add(-time.Duration(rng.IntN(60)) * time.Second)
			case 1, 2: // inside the window
				soldAt = now.Add(-time.Duration(rng.Int64N(int64(24 * time.Hour))))
			case 3: // inside or outside
				soldAt = now.Add(-time.Duration(rng.Int64N(int64(30 * time.Hour))))
			}
			refusal, reasons, at, late := m.expect(o, people[i], years[i%len(years)], qty, now, soldAt, offline)
			r, _, err := e.Ledger.Sell(ctx, ledger.SaleRequest{Outlet: o, TxnID: txn, Buyer: people[i], Quantity: qty, SoldAt: soldAt, Offline: offline})
			if code(err) != refusal {
				t.Fatalf("step %d: sale (late=%v, sold_at %s, now %s) answered %v, want %q", step, late, soldAt.Format(time.DateTime), now.Format(time.DateTime), err, refusal)
			}
			if err != nil {
				break
			}
			if r.Late != late || !slices.Equal(r.ConflictReasons, reasons) || !r.SoldAt.Equal(at) {
				t.Fatalf("step %d: receipt late=%v reasons=%v sold_at=%s, want late=%v %v %s", step, r.Late, r.ConflictReasons, r.SoldAt, late, reasons, at)
			}
			s := &modelSale{id: r.SaleID, outlet: o, person: people[i], week: policy.WeekStart(at).Format("2006-01-02"), qty: qty,
				weekend: m.pol.IsWeekend(at), conflict: len(reasons) > 0}
			if qty > m.stock[o] {
				s.short = qty - m.stock[o]
			}
			m.stock[o] += s.short - qty
			m.addUsage(s, 1)
			m.sales = append(m.sales, s)
			m.seen[o] = append(m.seen[o], now)
			if s.conflict {
				conflicts++
			}
		}
		for _, o := range outlets {
			if got := stockOf(t, e, o); got != m.stock[o] || got < 0 {
				t.Fatalf("step %d: outlet %s stock %d, model %d", step, o, got, m.stock[o])
			}
		}
		if step%20 == 19 {
			rep, err := e.Ledger.Verify(ctx)
			if err != nil || !rep.OK || rep.Conflicts != conflicts {
				t.Fatalf("step %d: verify %+v %v; want ok with %d conflicts", step, rep, err, conflicts)
			}
		}
	}
	if conflicts == 0 || len(m.sales) < 50 {
		t.Fatalf("the walk drew %d sales and %d conflicts: too few to mean anything", len(m.sales), conflicts)
	}
}
