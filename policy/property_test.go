package policy

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// Random purchases in random weeks, applying Check and its After as the
// ledger does: no person's usage ever exceeds the quota or the purchase
// limits in force at the time of the purchase that produced it.
func TestPropertyNeverAboveLimits(t *testing.T) {
	rng := rand.New(rand.NewPCG(2020, 3))
	cats := append(Categories(), "cousin")
	for _, p := range []*Policy{Standard(), Korea2020()} {
		for trial := range 400 {
			// A week between 2 March and 13 July 2020.
			monday := kst(t, "2020-03-02 00:00:00").AddDate(0, 0, 7*rng.IntN(20))
			const people = 5
			years := make([]int, people)
			for i := range years {
				years[i] = 1930 + rng.IntN(90)
			}
			usage := make([]Usage, people)
			times := make([]time.Time, 40)
			for i := range times {
				times[i] = monday.Add(time.Duration(rng.Int64N(int64(7 * 24 * time.Hour))))
			}
			slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
			for _, at := range times {
				order := rng.Perm(people)[:1+rng.IntN(3)] // distinct persons, the first buys
				persons := make([]Person, len(order))
				for k, idx := range order {
					persons[k] = Person{Role: RoleProxy, BirthDate: born(years[idx]), Quantity: rng.IntN(7), Week: usage[idx],
						Category: cats[rng.IntN(len(cats))]}
				}
				persons[0].Role, persons[0].Category = RoleBuyer, ""
				outlet := []string{"01", "02", "03"}[rng.IntN(3)]
				d := p.Check(at, outlet, persons)
				if again := p.Check(at, outlet, persons); !reflectEqual(d, again) {
					t.Fatalf("Check is not deterministic")
				}
				if !d.OK {
					continue
				}
				per := p.PeriodAt(at)
				for k, idx := range order {
					if persons[k].Quantity == 0 {
						continue
					}
					u := usage[idx]
					u.Add(persons[k].Quantity, p.IsWeekend(at))
					if q := per.quotaFor(years[idx]); q >= 0 && u.Quantity > q {
						t.Fatalf("%s trial %d: born %d has %d masks, quota %d", Date(at), trial, years[idx], u.Quantity, q)
					}
					if pl := per.Purchases; !pl.Unlimited {
						if u.Purchases > pl.PerWeek || (pl.Split && (u.WeekdayPurchases > 1 || u.WeekendPurchases > 1)) {
							t.Fatalf("%s trial %d: born %d usage %+v over %+v", Date(at), trial, years[idx], u, *pl)
						}
					}
					if u.Purchases != u.WeekdayPurchases+u.WeekendPurchases || u.Quantity != usage[idx].Quantity+persons[k].Quantity {
						t.Fatalf("inconsistent usage %+v", u)
					}
					usage[idx] = u
				}
			}
		}
	}
}

func reflectEqual(a, b Decision) bool {
	return a.OK == b.OK && a.Reason == b.Reason && a.Unchecked == b.Unchecked &&
		slices.Equal(a.Persons, b.Persons)
}

// Readers of a Holder see either the old or the new policy, whole.
func TestHolderSwap(t *testing.T) {
	std, kor := Standard(), Korea2020()
	h := NewHolder(std)
	at := kst(t, "2020-04-27")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				p := h.Load()
				q := p.Rules(at, 0).WeeklyQuota
				if (p.Name == PresetStandard) != (*q == 2) || (p.Name == PresetKorea2020) != (*q == 3) {
					t.Errorf("half-applied policy: %s with quota %d", p.Name, *q)
					return
				}
			}
		}()
	}
	for i := range 2000 {
		if i%2 == 0 {
			h.Store(kor)
		} else {
			h.Store(std)
		}
	}
	close(stop)
	wg.Wait()
	defer func() {
		if recover() == nil {
			t.Error("Store(nil) must panic")
		}
	}()
	h.Store(nil)
}
