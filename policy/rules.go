package policy

import "time"

// DayRules is the answer of GET /api/v2/rules (DESIGN.md §4.2). The first
// eight fields are the contract; the rest are extensions.
type DayRules struct {
	Date             string       `json:"date"`
	SalesOpen        bool         `json:"sales_open"`
	Rotation         bool         `json:"rotation"`
	WeekendRule      string       `json:"weekend_rule"`       // WeekendClosed, WeekendAnyDay, WeekendAnyone or WeekendAnyoneHoliday
	DigitsToday      []int        `json:"digits_today"`       // null when anyone may buy that day, or closed
	WeeklyQuota      *int         `json:"weekly_quota"`       // the general quota; null = no limit; 0 when closed
	PurchasesPerWeek *int         `json:"purchases_per_week"` // null = no limit; 0 when closed
	Person           *PersonRules `json:"person,omitempty"`

	Weekend        bool      `json:"weekend"`                  // counts as a weekend day that date
	Holiday        bool      `json:"holiday"`                  // a listed holiday (weekend-like or not)
	SplitPurchases bool      `json:"split_purchases"`          // one weekday and one weekend purchase
	DuplicateCheck bool      `json:"duplicate_check"`          // false: sales are recorded, nobody is limited
	QuotaBrackets  []Bracket `json:"quota_brackets,omitempty"` // birth-year exceptions to weekly_quota
	PeriodFrom     string    `json:"period_from,omitempty"`    // From of the period in force
	// ProxyDayRule is the day rule for persons bought for (DayRepresented,
	// DayMinorWithBuyer, DayEither; "" when nobody may be bought for), with
	// ProxyMinorBornFrom for DayMinorWithBuyer: the counter's offline
	// verdict applies it, so it does not refuse a proxy purchase on the
	// buyer's day that the server would sell.
	ProxyDayRule       string `json:"proxy_day_rule,omitempty"`
	ProxyMinorBornFrom int    `json:"proxy_minor_born_from,omitempty"`
}

// PersonRules is DayRules.Person: the rules for one birth year.
type PersonRules struct {
	BirthYear int  `json:"birth_year"`
	MayBuy    bool `json:"may_buy"` // by the day rules alone (this week's purchases are not known here)
	Quota     *int `json:"quota"`   // that person's weekly quota that day, whether or not they may buy; null = no limit
	// DaysThisWeek are the dates of this Monday–Sunday week on which this
	// birth year may buy, each judged by the rules in force on that date.
	DaysThisWeek []string `json:"days_this_week"`
}

// Rules describes the rules in force on the Seoul date of date; birthYear 0
// leaves out the person part.
func (p *Policy) Rules(date time.Time, birthYear int) DayRules {
	d := Date(date)
	per := p.periodOn(d)
	r := DayRules{Date: d}
	if !per.open() {
		r.WeekendRule = WeekendClosed
		r.WeeklyQuota, r.PurchasesPerWeek = intp(0), intp(0)
		if per != nil {
			r.PeriodFrom = per.From
		}
	} else {
		r.SalesOpen = true
		r.PeriodFrom = per.From
		r.Rotation = len(per.Rotation) > 0
		r.Weekend = per.isWeekend(d)
		r.Holiday = per.isHoliday(d)
		r.DuplicateCheck = !per.NoDuplicateCheck
		switch {
		case !r.Rotation:
			r.WeekendRule = WeekendAnyDay
		case per.HolidaysAsWeekend:
			r.WeekendRule = WeekendAnyoneHoliday
		default:
			r.WeekendRule = WeekendAnyone
		}
		if r.Rotation && !r.Weekend {
			r.DigitsToday = per.digitsOn(weekdayOf(d))
		}
		if q := per.Quota; q != nil && !q.Unlimited {
			r.WeeklyQuota = intp(q.PerWeek)
			r.QuotaBrackets = append([]Bracket(nil), q.Brackets...)
		}
		if pl := per.Purchases; pl != nil && !pl.Unlimited {
			r.PurchasesPerWeek = intp(pl.PerWeek)
			r.SplitPurchases = pl.Split
		}
		if px := per.Proxy; px != nil {
			r.ProxyDayRule = px.DayRule
			if px.DayRule == DayMinorWithBuyer {
				r.ProxyMinorBornFrom = px.MinorBornFrom
			}
		}
	}
	if birthYear != 0 {
		r.Person = p.personRules(d, per, birthYear)
	}
	return r
}

func (p *Policy) personRules(d string, per *Period, year int) *PersonRules {
	pr := &PersonRules{BirthYear: year, DaysThisWeek: []string{}}
	if per.open() {
		pr.MayBuy = per.ownDay(d, year)
		if q := per.quotaFor(year); q >= 0 {
			pr.Quota = intp(q)
		}
	} else {
		pr.Quota = intp(0)
	}
	monday := weekOf(d)
	for k := range 7 {
		day := addDays(monday, k)
		if dp := p.periodOn(day); dp.open() && dp.ownDay(day, year) {
			pr.DaysThisWeek = append(pr.DaysThisWeek, day)
		}
	}
	return pr
}

func intp(n int) *int { return &n }
