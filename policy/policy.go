// Package policy is the rules engine of the public-mask system: which person
// may buy how many masks on which day, at which kind of outlet, for whom.
//
// A Policy is data: a list of effective-dated periods, each saying everything
// the rules of that time need (see README.md for the file format). The code
// holds no dates of its own, so the 2020 timeline, the `standard` preset and
// an operator's file are judged by the same code. Everything is evaluated in
// Asia/Seoul, whatever zone the instants come in. The package does no I/O
// except Load, which reads a policy file.
package policy

import (
	"encoding/json"
	"slices"
	"sort"
	"time"

	"github.com/publicmask/publicmask"
)

// Roles of the persons in a purchase.
const (
	RoleBuyer = "buyer"
	RoleProxy = "proxy" // a person bought for (on_behalf_of)
)

// Proxy categories: the grounds on which someone may be bought for.
const (
	CategoryChild         = "child"
	CategoryElderly       = "elderly"
	CategoryLongTermCare  = "long_term_care"
	CategoryDisabled      = "disabled"
	CategoryPregnant      = "pregnant"
	CategoryNationalMerit = "national_merit"
	CategoryInpatient     = "inpatient"
	CategoryCareFacility  = "care_facility"
	CategoryFamily        = "family"
)

// Categories lists every proxy category name, in the order they were allowed in 2020.
func Categories() []string {
	return []string{CategoryChild, CategoryElderly, CategoryLongTermCare, CategoryDisabled,
		CategoryPregnant, CategoryNationalMerit, CategoryInpatient, CategoryCareFacility, CategoryFamily}
}

// ValidCategory reports whether c is a known proxy category name.
func ValidCategory(c string) bool { return slices.Contains(Categories(), c) }

// Proxy day rules: on which weekday (under the rotation) a proxy purchase may be made.
const (
	// DayRepresented: on the represented person's day only.
	DayRepresented = "represented"
	// DayMinorWithBuyer: the represented person's day, or the buyer's own day
	// when the represented person is a minor (born in or after MinorBornFrom)
	// — the parent with an accompanying child.
	DayMinorWithBuyer = "minor_with_buyer"
	// DayEither: either person's day.
	DayEither = "either"
)

// Tokens of OutletClosed besides the weekday names.
const (
	// ClosedWeekend closes on weekend days and, when the period counts
	// holidays as weekend, on those holidays.
	ClosedWeekend = "weekend"
	// ClosedHoliday closes on every listed holiday.
	ClosedHoliday = "holiday"
)

// Values of DayRules.WeekendRule.
const (
	WeekendClosed        = "closed"               // sales are closed
	WeekendAnyDay        = "any_day"              // no rotation: anyone, any day, within the week's limits
	WeekendAnyone        = "anyone"               // rotation on weekdays; weekend days open to anyone within the week's limits
	WeekendAnyoneHoliday = "anyone_incl_holidays" // as "anyone", and holidays count as weekend days
)

// Reasons: the contract codes (DESIGN.md §4) a check can give.
const (
	ReasonBadRequest       = publicmask.EBadRequest
	ReasonNotEligibleToday = publicmask.ENotEligibleToday
	ReasonQuotaExceeded    = publicmask.EQuotaExceeded
	ReasonSalesClosed      = publicmask.ESalesClosed
	ReasonOutletClosed     = publicmask.EOutletClosed
	ReasonProxyNotAllowed  = publicmask.EProxyNotAllowed
)

// Policy is a named, ordered list of effective-dated periods.
type Policy struct {
	Name string `json:"name"`
	// LateWindow is how old a late sale (an offline outbox's) may be when
	// it arrives, as a Go duration ("24h", "90m"); older ones are refused
	// (late_sale_too_old). Empty means DefaultLateWindow.
	LateWindow string   `json:"late_window,omitempty"`
	Periods    []Period `json:"periods"`
}

// Bounds of Policy.LateWindow.
const (
	DefaultLateWindow = 24 * time.Hour
	MinLateWindow     = 2 * time.Minute
	MaxLateWindow     = publicmask.MaxLateWindow
)

// Late is the late window in force (DefaultLateWindow unless set).
func (p *Policy) Late() time.Duration {
	if d, err := time.ParseDuration(p.LateWindow); err == nil && d >= MinLateWindow && d <= MaxLateWindow {
		return d
	}
	return DefaultLateWindow
}

// ProxyCategoriesOn lists the proxy categories the rules allow on the Seoul
// date of at, with their birth-year bounds (none when sales are closed).
func (p *Policy) ProxyCategoriesOn(at time.Time) []ProxyCategory {
	per := p.PeriodAt(at)
	if !per.open() || per.Proxy == nil {
		return []ProxyCategory{}
	}
	return slices.Clone(per.Proxy.Categories)
}

// Period is the rules in force from From (inclusive) until the day before the
// next period's From, or until Until (inclusive) when set. Dates outside
// every period have sales closed.
type Period struct {
	From  string `json:"from"`            // "YYYY-MM-DD", Korea time
	Until string `json:"until,omitempty"` // last day (inclusive); "" = until the next period, or forever
	Note  string `json:"note,omitempty"`  // free text for people
	// Closed: no sales at all. The other fields are then ignored.
	Closed bool `json:"closed,omitempty"`
	// Rotation (5부제): on weekdays a person may buy only on the day listed for
	// the last digit of their birth year. Empty = no rotation: any day.
	Rotation []RotationDay `json:"rotation,omitempty"`
	// WeekendDays are open to anyone (within the week's limits) under the
	// rotation. A missing list means ["sat","sun"]; [] means no weekend days.
	WeekendDays []string `json:"weekend_days"`
	// Holidays ("YYYY-MM-DD", inside the period) count as weekend days when
	// HolidaysAsWeekend is set; otherwise they are ordinary days for the rules.
	Holidays          []string `json:"holidays,omitempty"`
	HolidaysAsWeekend bool     `json:"holidays_as_weekend,omitempty"`
	// Quota is each person's weekly quota. Required for open periods.
	Quota *Quota `json:"quota,omitempty"`
	// Purchases limits the number of purchases per person and week. Required for open periods.
	Purchases *Purchases `json:"purchases,omitempty"`
	// NoDuplicateCheck: sales are recorded but nobody is limited (8–11 July
	// 2020). Requires unlimited quota and purchases. Negative so that the
	// safe default (checked) is what an omitted field means.
	NoDuplicateCheck bool `json:"no_duplicate_check,omitempty"`
	// NoCheckDigit turns off the verification of buyer-ID check digits
	// (negative for the same reason).
	NoCheckDigit bool `json:"no_check_digit,omitempty"`
	// OutletClosed maps an outlet type ("01" pharmacy, "02" post office, "03"
	// Nonghyup mart) to the days it does not sell: weekday names, "weekend"
	// or "holiday".
	OutletClosed map[string][]string `json:"outlet_closed,omitempty"`
	// Proxy says who may be bought for and on which day. nil = nobody.
	Proxy *Proxy `json:"proxy,omitempty"`
}

// RotationDay lists the birth-year last digits that buy on one weekday.
type RotationDay struct {
	Day    string `json:"day"` // "mon" … "sun"
	Digits []int  `json:"digits"`
}

// Quota is a weekly quota per person: PerWeek, or that of the first bracket
// matching the person's birth year; or no limit.
type Quota struct {
	Unlimited bool      `json:"unlimited,omitempty"`
	PerWeek   int       `json:"per_week,omitempty"`
	Brackets  []Bracket `json:"brackets,omitempty"`
}

// Bracket gives PerWeek to people born in BornFrom…BornTo (inclusive; 0 = open end).
type Bracket struct {
	BornFrom int `json:"born_from,omitempty"`
	BornTo   int `json:"born_to,omitempty"`
	PerWeek  int `json:"per_week"`
}

// Purchases limits purchases per person and week.
type Purchases struct {
	Unlimited bool `json:"unlimited,omitempty"`
	PerWeek   int  `json:"per_week,omitempty"`
	// Split: at most one purchase on a weekday and one on a weekend day.
	Split bool `json:"split,omitempty"`
}

// Proxy are the rules for buying on behalf of others.
type Proxy struct {
	DayRule       string          `json:"day_rule"`                  // DayRepresented, DayMinorWithBuyer or DayEither
	MinorBornFrom int             `json:"minor_born_from,omitempty"` // for DayMinorWithBuyer
	Categories    []ProxyCategory `json:"categories"`
}

// ProxyCategory allows one category, optionally only for people born in
// BornFrom…BornTo (inclusive; 0 = open end), which the system can check.
type ProxyCategory struct {
	Name     string `json:"name"`
	BornFrom int    `json:"born_from,omitempty"`
	BornTo   int    `json:"born_to,omitempty"`
}

// MarshalJSON encodes the policy in the file format that Parse reads.
func (p *Policy) MarshalJSON() ([]byte, error) {
	type plain Policy // no methods: avoids recursing into MarshalJSON
	return json.Marshal((*plain)(p))
}

// PeriodAt is the period in force on the Seoul date of t, or nil if none.
func (p *Policy) PeriodAt(t time.Time) *Period { return p.periodOn(Date(t)) }

// periodOn finds the period for a canonical date. Periods are validated to
// be sorted by From and not to overlap.
func (p *Policy) periodOn(date string) *Period {
	i := sort.Search(len(p.Periods), func(i int) bool { return p.Periods[i].From > date }) - 1
	if i < 0 {
		return nil
	}
	per := &p.Periods[i]
	if per.Until != "" && date > per.Until {
		return nil
	}
	return per
}

// open reports whether sales are open under per (nil = no period).
func (per *Period) open() bool { return per != nil && !per.Closed }

func (per *Period) isHoliday(date string) bool { return slices.Contains(per.Holidays, date) }

// isWeekend: a weekend day, or a holiday when holidays count as weekend.
func (per *Period) isWeekend(date string) bool {
	if slices.Contains(per.WeekendDays, dayNames[weekdayOf(date)]) {
		return true
	}
	return per.HolidaysAsWeekend && per.isHoliday(date)
}

// outletClosed reports whether outlets of type typ do not sell on date.
func (per *Period) outletClosed(typ, date string) bool {
	for _, tok := range per.OutletClosed[typ] {
		switch tok {
		case ClosedWeekend:
			if per.isWeekend(date) {
				return true
			}
		case ClosedHoliday:
			if per.isHoliday(date) {
				return true
			}
		default:
			if tok == dayNames[weekdayOf(date)] {
				return true
			}
		}
	}
	return false
}

// digitsOn lists the birth-year digits of a weekday under the rotation.
func (per *Period) digitsOn(wd time.Weekday) []int {
	ds := []int{}
	for _, r := range per.Rotation {
		if r.Day == dayNames[wd] {
			ds = append(ds, r.Digits...)
		}
	}
	slices.Sort(ds)
	return ds
}

// ownDay: under per, may someone born in year buy on date by the day rule alone?
func (per *Period) ownDay(date string, year int) bool {
	if len(per.Rotation) == 0 || per.isWeekend(date) {
		return true
	}
	wd, digit := dayNames[weekdayOf(date)], lastDigit(year)
	for _, r := range per.Rotation {
		if r.Day == wd && slices.Contains(r.Digits, digit) {
			return true
		}
	}
	return false
}

func lastDigit(year int) int { return ((year % 10) + 10) % 10 }

// quotaFor is the weekly quota of someone born in year, -1 = no limit.
func (per *Period) quotaFor(year int) int {
	q := per.Quota
	if q == nil || q.Unlimited {
		return -1
	}
	for _, b := range q.Brackets {
		if inYears(year, b.BornFrom, b.BornTo) {
			return b.PerWeek
		}
	}
	return q.PerWeek
}

func inYears(year, from, to int) bool {
	return (from == 0 || year >= from) && (to == 0 || year <= to)
}

// category is the allowed proxy category of that name, or nil.
func (per *Period) category(name string) *ProxyCategory {
	if per.Proxy == nil {
		return nil
	}
	for i := range per.Proxy.Categories {
		if per.Proxy.Categories[i].Name == name {
			return &per.Proxy.Categories[i]
		}
	}
	return nil
}

// VerifyCheckDigit reports whether buyer-ID check digits are verified at t.
// Outside every period it says true: refusing a mistyped ID is the safe side.
func (p *Policy) VerifyCheckDigit(at time.Time) bool {
	per := p.PeriodAt(at)
	return per == nil || !per.NoCheckDigit
}

// Clone returns a deep copy, so that a caller may change it freely.
func (p *Policy) Clone() *Policy {
	c := &Policy{Name: p.Name, LateWindow: p.LateWindow}
	if p.Periods != nil {
		c.Periods = make([]Period, len(p.Periods))
	}
	for i, per := range p.Periods {
		n := per
		n.Rotation = nil
		if per.Rotation != nil {
			n.Rotation = make([]RotationDay, len(per.Rotation))
			for j, r := range per.Rotation {
				n.Rotation[j] = RotationDay{Day: r.Day, Digits: slices.Clone(r.Digits)}
			}
		}
		n.WeekendDays = slices.Clone(per.WeekendDays)
		n.Holidays = slices.Clone(per.Holidays)
		if per.Quota != nil {
			q := *per.Quota
			q.Brackets = slices.Clone(q.Brackets)
			n.Quota = &q
		}
		if per.Purchases != nil {
			pl := *per.Purchases
			n.Purchases = &pl
		}
		if per.OutletClosed != nil {
			n.OutletClosed = make(map[string][]string, len(per.OutletClosed))
			for k, v := range per.OutletClosed {
				n.OutletClosed[k] = slices.Clone(v)
			}
		}
		if per.Proxy != nil {
			px := *per.Proxy
			px.Categories = slices.Clone(px.Categories)
			n.Proxy = &px
		}
		c.Periods[i] = n
	}
	return c
}
