// Package policyoracle is an independent oracle of the 2020 rules, for
// tests: POLICY-2020.md and DESIGN.md written out as plain date comparisons
// (not from the presets' data), so that the policy package and the real
// binary can be compared with the facts date by date. Dates are Korea-time
// "YYYY-MM-DD" strings. The F-numbers are the facts of the 40th session's
// audit (BENCHMARKS.md).
package policyoracle

import (
	"slices"
	"time"

	"github.com/publicmask/publicmask"
)

// Oracle judges under korea-2020, or under `standard` (the rules of
// 9 March 2020 without an end, from 2020-01-01).
type Oracle struct{ Standard bool }

// Person is one person of a purchase: index 0 the buyer, the rest bought for.
type Person struct {
	Year, Qty int
	Cat       string
	Week      publicmask.Usage
}

// Open: sales open on d (F1, F4).
func (o Oracle) Open(d string) bool {
	if o.Standard {
		return d >= "2020-01-01"
	}
	return d >= "2020-03-06" && d <= "2020-07-11"
}

// Free: 8–11 July, no limit and no check (F3, DESIGN.md §6.11).
func (o Oracle) Free(d string) bool { return !o.Standard && d >= "2020-07-08" && d <= "2020-07-11" }

func (o Oracle) rotation(d string) bool {
	return o.Standard || d >= "2020-03-09" && d <= "2020-05-31" // F5, F8
}

// WeekendLike: Saturday, Sunday, and from 27 April the two holidays (F6, F7).
func (o Oracle) WeekendLike(d string) bool {
	wd := Weekday(d)
	if wd == time.Saturday || wd == time.Sunday {
		return true
	}
	return !o.Standard && d >= "2020-04-27" && (d == "2020-04-30" || d == "2020-05-05")
}

var days = map[int]time.Weekday{1: time.Monday, 6: time.Monday, 2: time.Tuesday, 7: time.Tuesday,
	3: time.Wednesday, 8: time.Wednesday, 4: time.Thursday, 9: time.Thursday, 5: time.Friday, 0: time.Friday}

// OwnDay: someone born in year may buy on d by the day rule alone (F5–F8).
func (o Oracle) OwnDay(d string, year int) bool {
	return !o.rotation(d) || o.WeekendLike(d) || days[year%10] == Weekday(d)
}

// Quota is the weekly quota of someone born in year on d; -1 = no limit (F2, F9–F13).
func (o Oracle) Quota(d string, year int) int {
	switch {
	case o.Standard, d < "2020-04-27":
		return 2
	case d < "2020-06-01":
		return 3
	case d < "2020-06-18":
		if year >= 2002 {
			return 5
		}
		return 3
	case d < "2020-07-08":
		return 10
	}
	return -1
}

// Purchases per week (-1 = no limit) and whether split into one weekday
// and one weekend purchase (F9–F12).
func (o Oracle) Purchases(d string) (int, bool) {
	switch {
	case o.Standard, d < "2020-05-18":
		return 1, false
	case d < "2020-06-01":
		return 2, true
	}
	return -1, false
}

// CategoryOK: the category is allowed on d for someone born in year (F15–F19, F22).
func (o Oracle) CategoryOK(d, cat string, year int) bool {
	if o.Standard {
		d = "2020-03-09"
	}
	if d < "2020-03-09" {
		return false
	}
	switch cat {
	case "child":
		if d >= "2020-04-06" {
			return year >= 2002
		}
		return year >= 2010
	case "elderly":
		return year <= 1940
	case "long_term_care", "disabled":
		return true
	case "pregnant", "national_merit":
		return d >= "2020-03-23"
	case "inpatient", "care_facility":
		return d >= "2020-04-06"
	case "family":
		return d >= "2020-05-18"
	}
	return false
}

// accompaniedMinor: 16 March – 26 April, a parent on the parent's own day
// with a minor (born 2002+), whatever the minor's birth year (F17).
func (o Oracle) accompaniedMinor(d string, buyerYear, year int) bool {
	return !o.Standard && d >= "2020-03-16" && d < "2020-04-27" && year >= 2002 && o.OwnDay(d, buyerYear)
}

// OutletSells: outlets of type typ sell on d (F23–F25).
func (o Oracle) OutletSells(typ, d string) bool {
	if typ == "02" {
		return (o.Standard || d >= "2020-03-11") && !o.WeekendLike(d)
	}
	return true
}

// Judge returns every reason code that refuses person i of ps on d at an
// outlet of type typ (none: eligible), and what the person may still buy
// that week before the purchase (-1 = no limit).
func (o Oracle) Judge(d, typ string, ps []Person, i int) (reasons []string, remaining int) {
	p := ps[i]
	remaining = o.Remaining(d, p)
	switch {
	case !o.Open(d):
		return []string{"sales_closed"}, remaining
	case !o.OutletSells(typ, d):
		return []string{"outlet_closed"}, remaining
	case p.Qty == 0, o.Free(d):
		return nil, remaining
	}
	if i > 0 && !o.CategoryOK(d, p.Cat, p.Year) && !(p.Cat == "child" && o.accompaniedMinor(d, ps[0].Year, p.Year)) {
		reasons = append(reasons, "proxy_not_allowed")
	}
	day := o.OwnDay(d, p.Year)
	if i > 0 && !day {
		day = o.accompaniedMinor(d, ps[0].Year, p.Year) || (!o.Standard && d >= "2020-04-27" && o.OwnDay(d, ps[0].Year))
	}
	if !day {
		reasons = append(reasons, "not_eligible_today")
	}
	if q := o.Quota(d, p.Year); q >= 0 && p.Week.Quantity+p.Qty > q {
		reasons = append(reasons, "quota_exceeded")
	}
	if n, split := o.Purchases(d); n >= 0 {
		used := p.Week.Purchases >= n
		if split && o.WeekendLike(d) {
			used = used || p.Week.WeekendPurchases >= 1
		} else if split {
			used = used || p.Week.WeekdayPurchases >= 1
		}
		if used && !slices.Contains(reasons, "quota_exceeded") {
			reasons = append(reasons, "quota_exceeded")
		}
	}
	return reasons, remaining
}

// Remaining is what p may still buy in the week of d under both the quantity
// and the purchase-count rules; -1 = no limit.
func (o Oracle) Remaining(d string, p Person) int {
	if !o.Open(d) {
		return 0
	}
	if n, split := o.Purchases(d); n >= 0 {
		if p.Week.Purchases >= n || split && p.Week.WeekdayPurchases >= 1 && p.Week.WeekendPurchases >= 1 {
			return 0
		}
	}
	q := o.Quota(d, p.Year)
	if q < 0 {
		return -1
	}
	return max(q-p.Week.Quantity, 0)
}

// Weekday of a date.
func Weekday(d string) time.Weekday {
	t, err := time.Parse("2006-01-02", d)
	if err != nil {
		panic(d)
	}
	return t.Weekday()
}

// Dates lists from … until, inclusive.
func Dates(from, until string) []string {
	var out []string
	t, _ := time.Parse("2006-01-02", from)
	for ; t.Format("2006-01-02") <= until; t = t.AddDate(0, 0, 1) {
		out = append(out, t.Format("2006-01-02"))
	}
	return out
}

// ValidID is F26 written out: 13 digits, an optional hyphen after the 6th,
// 7th digit 1–8, a real birth date, and (when verify) the check digit
// (11 − Σ dᵢ·wᵢ mod 11) mod 10 with weights 2…9, 2…5; 13 instead of 11 for
// foreigners (7th digit 5–8). Surrounding ASCII blanks are allowed.
func ValidID(s string, verify bool) bool {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	if len(s) == 14 && s[6] == '-' {
		s = s[:6] + s[7:]
	}
	if len(s) != 13 {
		return false
	}
	d := make([]int, 13)
	for i := range 13 {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		d[i] = int(s[i] - '0')
	}
	var year int
	switch d[6] {
	case 1, 2, 5, 6:
		year = 1900
	case 3, 4, 7, 8:
		year = 2000
	default:
		return false
	}
	year += d[0]*10 + d[1]
	month, day := d[2]*10+d[3], d[4]*10+d[5]
	if month < 1 || month > 12 || day < 1 {
		return false
	}
	if t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC); t.Day() != day {
		return false
	}
	if !verify {
		return true
	}
	w := []int{2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5}
	sum := 0
	for i, x := range w {
		sum += d[i] * x
	}
	base := 11
	if d[6] >= 5 {
		base = 13
	}
	return d[12] == (base-sum%11)%10
}
