package policy_test

// Check and Rules compared with an independent oracle of POLICY-2020.md
// (policyoracle) for every day of the 2020 timeline × birth years × usages
// × quantities × proxy categories × outlet types.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/policy/policyoracle"
	"github.com/publicmask/publicmask/rrn"
)

func oAt(d string, hour int) time.Time {
	t, err := time.ParseInLocation("2006-01-02", d, publicmask.Seoul)
	if err != nil {
		panic(d)
	}
	return t.Add(time.Duration(hour) * time.Hour)
}

func oBorn(year int) time.Time { return time.Date(year, 5, 17, 0, 0, 0, 0, time.UTC) }

var oUsages = []publicmask.Usage{
	{},
	{Quantity: 1, Purchases: 1, WeekdayPurchases: 1},
	{Quantity: 2, Purchases: 1, WeekdayPurchases: 1},
	{Quantity: 1, Purchases: 1, WeekendPurchases: 1},
	{Quantity: 3, Purchases: 2, WeekdayPurchases: 1, WeekendPurchases: 1},
	{Quantity: 4, Purchases: 3, WeekdayPurchases: 3},
	{Quantity: 9, Purchases: 4, WeekdayPurchases: 2, WeekendPurchases: 2},
}

// oNextDate is the first later date, within 14 days, on which person i
// (refused) could buy one mask: this week's usage until Sunday, a fresh week
// after; outlet closures ignored (another outlet may be open).
func oNextDate(o policyoracle.Oracle, d string, ops []policyoracle.Person, i int, refused bool) string {
	if !refused || ops[i].Qty == 0 {
		return ""
	}
	t, _ := time.Parse("2006-01-02", d)
	monday := t.AddDate(0, 0, -((int(t.Weekday()) + 6) % 7))
	for k := 1; k <= 14; k++ {
		dk := t.AddDate(0, 0, k)
		next := slices.Clone(ops)
		next[i].Qty = 1
		if dk.Sub(monday) >= 7*24*time.Hour {
			next[i].Week = publicmask.Usage{}
		}
		if reasons, _ := o.Judge(dk.Format("2006-01-02"), "01", next, i); len(reasons) == 0 && o.Open(dk.Format("2006-01-02")) {
			return dk.Format("2006-01-02")
		}
	}
	return ""
}

// compare checks one purchase against the oracle; it returns a line per mismatch.
func compare(pol *policy.Policy, o policyoracle.Oracle, d, typ string, ops []policyoracle.Person) []string {
	ps := make([]policy.Person, len(ops))
	for i, p := range ops {
		role := policy.RoleBuyer
		if i > 0 {
			role = policy.RoleProxy
		}
		ps[i] = policy.Person{Role: role, BirthDate: oBorn(p.Year), Category: p.Cat, Quantity: p.Qty, Week: p.Week}
	}
	var bad []string
	for _, hour := range []int{0, 10, 23} {
		dec := pol.Check(oAt(d, hour).Add(59*time.Minute), typ, ps)
		okAll := true
		for i := range ops {
			reasons, rem := o.Judge(d, typ, ops, i)
			v := dec.Persons[i]
			okAll = okAll && len(reasons) == 0
			switch {
			case v.Eligible != (len(reasons) == 0):
				bad = append(bad, fmt.Sprintf("%s %02d:59 type %s %+v person %d: eligible %v (%s), oracle %v", d, hour, typ, ops, i, v.Eligible, v.Reason, reasons))
			case !v.Eligible && !slices.Contains(reasons, v.Reason):
				bad = append(bad, fmt.Sprintf("%s %02d:59 type %s %+v person %d: reason %s, oracle %v", d, hour, typ, ops, i, v.Reason, reasons))
			case v.Remaining != rem:
				bad = append(bad, fmt.Sprintf("%s %02d:59 type %s %+v person %d: remaining %d, oracle %d", d, hour, typ, ops, i, v.Remaining, rem))
			case hour == 10 && v.NextDate != oNextDate(o, d, ops, i, len(reasons) > 0):
				bad = append(bad, fmt.Sprintf("%s %02d:59 type %s %+v person %d: next_date %q, oracle %q", d, hour, typ, ops, i, v.NextDate, oNextDate(o, d, ops, i, len(reasons) > 0)))
			}
		}
		if dec.OK != okAll {
			bad = append(bad, fmt.Sprintf("%s type %s %+v: OK %v, oracle %v", d, typ, ops, dec.OK, okAll))
		}
		if hour == 10 && dec.Unchecked != (o.Open(d) && o.Free(d)) {
			bad = append(bad, fmt.Sprintf("%s: Unchecked %v", d, dec.Unchecked))
		}
	}
	return bad
}

func reportMismatches(t *testing.T, bad []string) {
	t.Helper()
	for i, b := range bad {
		if i == 40 {
			t.Errorf("… %d mismatches in all", len(bad))
			break
		}
		t.Error(b)
	}
}

// oBuyerYears: every last digit around each birth-year bound (1940, 2002, 2010).
var oBuyerYears = append(append(yearsFrom(1935, 1945), yearsFrom(1980, 1989)...), yearsFrom(1999, 2012)...)

func yearsFrom(a, b int) []int {
	var out []int
	for y := a; y <= b; y++ {
		out = append(out, y)
	}
	return out
}

var oTypes = []string{"01", "02", "03"}

// The buyer alone: every day from 28 February to 20 July 2020, every birth
// year of each digit around each bound, every outlet type, usages and quantities.
func TestOracle2020Buyer(t *testing.T) {
	testOracleBuyer(t, policy.Korea2020(), policyoracle.Oracle{}, policyoracle.Dates("2020-02-28", "2020-07-20"))
}

func TestOracleStandardBuyer(t *testing.T) {
	// One period without an end: three weeks at its start, in 2020 and now.
	days := append(policyoracle.Dates("2020-01-01", "2020-01-14"), policyoracle.Dates("2020-03-02", "2020-03-15")...)
	days = append(days, policyoracle.Dates("2026-12-01", "2026-12-14")...)
	testOracleBuyer(t, policy.Standard(), policyoracle.Oracle{Standard: true}, days)
}

func testOracleBuyer(t *testing.T, pol *policy.Policy, o policyoracle.Oracle, days []string) {
	var bad []string
	for _, d := range days {
		for _, typ := range oTypes {
			for _, year := range oBuyerYears {
				for _, u := range oUsages {
					for _, q := range []int{1, 2, 3, 5, 10} {
						bad = append(bad, compare(pol, o, d, typ, []policyoracle.Person{{Year: year, Qty: q, Week: u}})...)
					}
				}
			}
		}
	}
	reportMismatches(t, bad)
}

// oProxyDay is the proxy day rule on d (F16, F17, F21), as the counter's
// offline verdict is served it.
func oProxyDay(o policyoracle.Oracle, d string) (string, int) {
	switch {
	case !o.Open(d) || !o.Standard && d < "2020-03-09":
		return "", 0
	case o.Standard || d < "2020-03-16":
		return policy.DayRepresented, 0
	case d < "2020-04-27":
		return policy.DayMinorWithBuyer, 2002
	}
	return policy.DayEither, 0
}

// Rules (GET /api/v2/rules): may_buy and quota per birth year, and days_this_week.
func TestOracle2020Rules(t *testing.T) {
	for _, c := range []struct {
		pol  *policy.Policy
		o    policyoracle.Oracle
		days []string
	}{
		{policy.Korea2020(), policyoracle.Oracle{}, policyoracle.Dates("2020-02-24", "2020-07-26")},
		{policy.Standard(), policyoracle.Oracle{Standard: true}, policyoracle.Dates("2020-03-02", "2020-05-31")},
	} {
		var bad []string
		for _, d := range c.days {
			for year := 1930; year <= 2019; year++ {
				r := c.pol.Rules(oAt(d, 12), year)
				if r.SalesOpen != c.o.Open(d) {
					bad = append(bad, fmt.Sprintf("%s: sales_open %v", d, r.SalesOpen))
				}
				if rule, from := oProxyDay(c.o, d); r.ProxyDayRule != rule || r.ProxyMinorBornFrom != from {
					bad = append(bad, fmt.Sprintf("%s: proxy day rule %q %d, oracle %q %d", d, r.ProxyDayRule, r.ProxyMinorBornFrom, rule, from))
				}
				may := c.o.Open(d) && c.o.OwnDay(d, year)
				if r.Person.MayBuy != may {
					bad = append(bad, fmt.Sprintf("%s born %d: may_buy %v, oracle %v", d, year, r.Person.MayBuy, may))
				}
				q := c.o.Quota(d, year)
				if !c.o.Open(d) {
					q = 0
				}
				if got := r.Person.Quota; (got == nil) != (q < 0) || got != nil && *got != q {
					bad = append(bad, fmt.Sprintf("%s born %d: quota %v, oracle %d", d, year, got, q))
				}
				var days []string
				mon := oAt(d, 12).AddDate(0, 0, -((int(policyoracle.Weekday(d)) + 6) % 7))
				for k := range 7 {
					dk := mon.AddDate(0, 0, k).Format("2006-01-02")
					if c.o.Open(dk) && c.o.OwnDay(dk, year) {
						days = append(days, dk)
					}
				}
				if !slices.Equal(r.Person.DaysThisWeek, days) && !(len(days) == 0 && len(r.Person.DaysThisWeek) == 0) {
					bad = append(bad, fmt.Sprintf("%s born %d: days_this_week %v, oracle %v", d, year, r.Person.DaysThisWeek, days))
				}
			}
		}
		reportMismatches(t, bad)
	}
}

var oProxyYears = []int{1935, 1940, 1941, 1956, 1967, 1978, 1983, 1994, 2001, 2002, 2005, 2009, 2010, 2013, 2019}

// A buyer and one person bought for: every day, buyer and proxy years that
// cover every digit and bound, every category, the buyer taking 0 or 1.
func TestOracle2020Proxy(t *testing.T) {
	testOracleProxy(t, policy.Korea2020(), policyoracle.Oracle{}, policyoracle.Dates("2020-03-02", "2020-07-14"))
}

func TestOracleStandardProxy(t *testing.T) {
	testOracleProxy(t, policy.Standard(), policyoracle.Oracle{Standard: true}, policyoracle.Dates("2020-03-02", "2020-03-22"))
}

func testOracleProxy(t *testing.T, pol *policy.Policy, o policyoracle.Oracle, days []string) {
	var bad []string
	for _, d := range days {
		for _, typ := range []string{"01", "02"} {
			for _, by := range []int{1961, 1983, 1975} {
				for _, py := range oProxyYears {
					for _, cat := range policy.Categories() {
						for _, bq := range []int{0, 1} {
							for _, u := range []publicmask.Usage{{}, oUsages[2], oUsages[3]} {
								bad = append(bad, compare(pol, o, d, typ, []policyoracle.Person{{Year: by, Qty: bq}, {Year: py, Qty: 1, Cat: cat, Week: u}})...)
							}
						}
					}
				}
			}
		}
	}
	reportMismatches(t, bad)
}

// rrn.Parse against F26 written out (policyoracle.ValidID): random numbers
// around the valid ones — every century digit, dates at month ends and leap
// days, every last digit, hyphens — with the check digit on and off.
func TestOracleIDs(t *testing.T) {
	r := rand.New(rand.NewPCG(40, 3))
	dates := []string{"000229", "010229", "040229", "200229", "830315", "991231", "000101", "120431", "120430", "121301", "120001", "130100", "380215", "021130"}
	bad, valid := 0, 0
	for range 200_000 {
		first := dates[r.IntN(len(dates))]
		if r.IntN(4) == 0 {
			first = fmt.Sprintf("%06d", r.IntN(1_000_000))
		}
		s := fmt.Sprintf("%s%d%05d%d", first, r.IntN(10), r.IntN(100_000), r.IntN(10))
		switch r.IntN(6) {
		case 0:
			s = s[:6] + "-" + s[6:]
		case 1:
			s = s[:5] + "-" + s[5:]
		case 2:
			s = " " + s + " "
		case 3:
			s = s[:12]
		}
		for _, verify := range []bool{true, false} {
			_, err := rrn.Parse(s, verify)
			want := policyoracle.ValidID(s, verify)
			if want {
				valid++
			}
			if (err == nil) != want {
				bad++
				if bad < 20 {
					t.Errorf("Parse(%q, verify %v): err %v, oracle valid %v", s, verify, err, want)
				}
			}
		}
	}
	if valid < 10_000 {
		t.Fatalf("only %d valid cases: the generator is too narrow", valid)
	}
}
