package policy

import (
	"time"

	"github.com/publicmask/publicmask"
)

// Usage is a person's purchases so far in one week.
type Usage = publicmask.Usage

// Person is one person of a purchase: the buyer (index 0) or someone bought for.
type Person struct {
	Role      string    // RoleBuyer or RoleProxy; informative, the position decides
	BirthDate time.Time // a calendar date; only its year is used
	Category  string    // proxies only
	Quantity  int       // masks for this person in this purchase; 0 = takes nothing
	Week      Usage     // already bought in the week of the purchase
}

// Verdict is the judgement on one person.
type Verdict struct {
	Eligible bool
	Reason   string // contract code when not eligible, else ""
	// Remaining is the masks this person may still buy this week before this
	// purchase: quota − bought (≥ 0), 0 when the week's purchases are used
	// up, -1 = no limit.
	Remaining int
	// NextDate ("YYYY-MM-DD") is, when not eligible, the first later date
	// (within 14 days) on which this person could buy at least one mask,
	// counting this week's usage and a fresh week after it; "" if eligible
	// or none. Outlet closures are ignored: another outlet may be open.
	NextDate string
}

// Decision is the judgement on one purchase.
type Decision struct {
	OK        bool
	Reason    string    // the first failing person's reason, "" if OK
	Persons   []Verdict // in input order
	Unchecked bool      // no duplicate check in force: record, but nobody is limited
}

// nextDateHorizon is how far ahead NextDate looks.
const nextDateHorizon = 14

// Check decides one purchase at instant at, at an outlet of type outletType.
// persons[0] is the buyer, persons[1:] are those bought for. A person with
// Quantity 0 takes nothing and is not limited (the buyer's birth year still
// counts for the proxy day rule). All or nothing: OK only if every person
// who takes masks is eligible. Pure and deterministic.
func (p *Policy) Check(at time.Time, outletType string, persons []Person) Decision {
	date := Date(at)
	per := p.periodOn(date)
	dec := Decision{Persons: make([]Verdict, len(persons))}
	takes := false
	for _, ps := range persons {
		if ps.Quantity < 0 {
			return badRequest(dec)
		}
		takes = takes || ps.Quantity > 0
	}
	if !takes {
		return badRequest(dec)
	}
	dec.Unchecked = per.open() && per.NoDuplicateCheck

	// Reasons that concern the whole purchase, not a person.
	common := ""
	switch {
	case !per.open():
		common = ReasonSalesClosed
	case per.outletClosed(outletType, date):
		common = ReasonOutletClosed
	}

	dec.OK = true
	for i := range persons {
		v := Verdict{Eligible: true, Remaining: remaining(per, date, persons[i])}
		if persons[i].Quantity > 0 {
			reason := common
			if reason == "" {
				reason = judge(per, date, persons, i, persons[i].Week, persons[i].Quantity)
			}
			if reason != "" {
				v.Eligible, v.Reason = false, reason
				v.NextDate = p.nextDate(date, persons, i)
			}
		} else if common != "" {
			// The whole purchase fails: say so to everyone.
			v.Eligible, v.Reason = false, common
		}
		dec.Persons[i] = v
		if !v.Eligible && dec.OK {
			dec.OK, dec.Reason = false, v.Reason
		}
	}
	return dec
}

func badRequest(dec Decision) Decision {
	dec.OK, dec.Reason = false, ReasonBadRequest
	for i := range dec.Persons {
		dec.Persons[i] = Verdict{Reason: ReasonBadRequest, Remaining: 0}
	}
	return dec
}

// judge returns the reason person i may not take q masks on date with week
// usage u under the open period per, or "". Order: category (who), then a
// week already used up for this kind of day (telling "come back on your
// day" would be false), then the day rule, then the size of the request.
func judge(per *Period, date string, persons []Person, i int, u Usage, q int) string {
	if per.NoDuplicateCheck {
		// No check in force (8–11 July 2020, DESIGN.md §6.11): nobody is
		// limited — not by the day, nor by a proxy category's birth years.
		return ""
	}
	ps := persons[i]
	year := ps.BirthDate.Year()
	if i > 0 {
		c := per.category(ps.Category)
		if (c == nil || !inYears(year, c.BornFrom, c.BornTo)) && !accompaniedMinor(per, date, persons, i) {
			return ReasonProxyNotAllowed
		}
	}
	weekend := per.isWeekend(date)
	quota := per.quotaFor(year)
	if purchasesUsed(per, u, weekend) || (quota >= 0 && u.Quantity >= quota) {
		return ReasonQuotaExceeded
	}
	if !mayBuyOn(per, date, persons, i) {
		return ReasonNotEligibleToday
	}
	if quota >= 0 && u.Quantity+q > quota {
		return ReasonQuotaExceeded
	}
	return ""
}

// accompaniedMinor: under the minor-with-buyer rule (from 16 March 2020) a
// parent buying on the parent's own day may buy for an accompanying minor
// "whatever the minor's birth year": a child older than the child
// category's own bound (born 2002–2009 before 6 April) qualifies then, and
// only then.
func accompaniedMinor(per *Period, date string, persons []Person, i int) bool {
	p := per.Proxy
	return p != nil && p.DayRule == DayMinorWithBuyer && persons[i].Category == CategoryChild &&
		per.category(CategoryChild) != nil && persons[i].BirthDate.Year() >= p.MinorBornFrom &&
		per.ownDay(date, persons[0].BirthDate.Year())
}

// mayBuyOn applies the day rule to person i (with the proxy day rule for i > 0).
func mayBuyOn(per *Period, date string, persons []Person, i int) bool {
	year := persons[i].BirthDate.Year()
	if per.ownDay(date, year) {
		return true
	}
	if i == 0 || per.Proxy == nil {
		return false
	}
	buyerDay := per.ownDay(date, persons[0].BirthDate.Year())
	switch per.Proxy.DayRule {
	case DayEither:
		return buyerDay
	case DayMinorWithBuyer:
		return buyerDay && year >= per.Proxy.MinorBornFrom
	}
	return false
}

// purchasesUsed: no purchase left this week for this kind of day.
func purchasesUsed(per *Period, u Usage, weekend bool) bool {
	pl := per.Purchases
	if pl == nil || pl.Unlimited {
		return false
	}
	if u.Purchases >= pl.PerWeek {
		return true
	}
	if pl.Split {
		if weekend {
			return u.WeekendPurchases >= 1
		}
		return u.WeekdayPurchases >= 1
	}
	return false
}

// Remaining is what the person may still buy in the week of at, given
// ps.Week, under both the quantity and the purchase-count rules; -1 = no
// limit. The check reports it before a purchase, the receipt after one
// (with the usage the purchase left), so the two mean the same.
func (p *Policy) Remaining(at time.Time, ps Person) int {
	date := Date(at)
	return remaining(p.periodOn(date), date, ps)
}

// remaining is what the person may still buy this week, -1 = no limit.
func remaining(per *Period, date string, ps Person) int {
	if !per.open() {
		return 0
	}
	u := ps.Week
	if pl := per.Purchases; pl != nil && !pl.Unlimited {
		if u.Purchases >= pl.PerWeek || (pl.Split && u.WeekdayPurchases >= 1 && u.WeekendPurchases >= 1) {
			return 0
		}
	}
	q := per.quotaFor(ps.BirthDate.Year())
	if q < 0 {
		return -1
	}
	return max(q-u.Quantity, 0)
}

// nextDate is the first date after date on which person i could buy one
// mask: this week's usage counts until the week ends, then a fresh week.
func (p *Policy) nextDate(date string, persons []Person, i int) string {
	a := aheadOf(date)
	week := a.days[0].week
	for k := 1; k <= nextDateHorizon; k++ {
		dk := a.days[k]
		d := dk.date
		per := p.periodOn(d)
		if !per.open() {
			continue
		}
		u := persons[i].Week
		if dk.week != week {
			u = Usage{}
		}
		if judge(per, d, persons, i, u, 1) == "" {
			return d
		}
	}
	return ""
}
