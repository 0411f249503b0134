package policy

import (
	"encoding/json"
	"reflect"
	"testing"
)

func ip(n int) *int { return &n }

// Rules() walking POLICY-2020.md date by date: every rule change, the day
// before and after it, and every holiday.
func TestKorea2020RulesWalk(t *testing.T) {
	p := Korea2020()
	type row struct {
		date     string
		open     bool
		rotation bool
		weekend  bool
		holiday  bool
		digits   []int // nil = anyone (or closed)
		quota    *int
		perWeek  *int
		split    bool
		dupCheck bool
		rule     string
	}
	const (
		closed  = WeekendClosed
		anyDay  = WeekendAnyDay
		anyone  = WeekendAnyone
		anyoneH = WeekendAnyoneHoliday
	)
	rows := []row{
		{date: "2020-03-05", rule: closed, quota: ip(0), perWeek: ip(0)},
		{"2020-03-06", true, false, false, false, nil, ip(2), ip(1), false, true, anyDay},
		{"2020-03-08", true, false, true, false, nil, ip(2), ip(1), false, true, anyDay}, // 3-08 anyone
		{"2020-03-09", true, true, false, false, []int{1, 6}, ip(2), ip(1), false, true, anyone},
		{"2020-03-10", true, true, false, false, []int{2, 7}, ip(2), ip(1), false, true, anyone},
		{"2020-03-11", true, true, false, false, []int{3, 8}, ip(2), ip(1), false, true, anyone}, // only 3/8
		{"2020-03-12", true, true, false, false, []int{4, 9}, ip(2), ip(1), false, true, anyone},
		{"2020-03-13", true, true, false, false, []int{0, 5}, ip(2), ip(1), false, true, anyone},
		{"2020-03-14", true, true, true, false, nil, ip(2), ip(1), false, true, anyone}, // anyone
		{"2020-03-15", true, true, true, false, nil, ip(2), ip(1), false, true, anyone},
		{"2020-03-16", true, true, false, false, []int{1, 6}, ip(2), ip(1), false, true, anyone},
		{"2020-03-23", true, true, false, false, []int{1, 6}, ip(2), ip(1), false, true, anyone},
		{"2020-04-06", true, true, false, false, []int{1, 6}, ip(2), ip(1), false, true, anyone},
		{"2020-04-14", true, true, false, false, []int{2, 7}, ip(2), ip(1), false, true, anyone},
		{"2020-04-15", true, true, false, true, []int{3, 8}, ip(2), ip(1), false, true, anyone}, // election day: ordinary
		{"2020-04-16", true, true, false, false, []int{4, 9}, ip(2), ip(1), false, true, anyone},
		{"2020-04-24", true, true, false, false, []int{0, 5}, ip(2), ip(1), false, true, anyone},
		{"2020-04-26", true, true, true, false, nil, ip(2), ip(1), false, true, anyone},
		{"2020-04-27", true, true, false, false, []int{1, 6}, ip(3), ip(1), false, true, anyoneH}, // quota 3
		{"2020-04-29", true, true, false, false, []int{3, 8}, ip(3), ip(1), false, true, anyoneH},
		{"2020-04-30", true, true, true, true, nil, ip(3), ip(1), false, true, anyoneH}, // Buddha's birthday: anyone
		{"2020-05-01", true, true, false, false, []int{0, 5}, ip(3), ip(1), false, true, anyoneH},
		{"2020-05-04", true, true, false, false, []int{1, 6}, ip(3), ip(1), false, true, anyoneH},
		{"2020-05-05", true, true, true, true, nil, ip(3), ip(1), false, true, anyoneH}, // Children's day: anyone
		{"2020-05-06", true, true, false, false, []int{3, 8}, ip(3), ip(1), false, true, anyoneH},
		{"2020-05-17", true, true, true, false, nil, ip(3), ip(1), false, true, anyoneH},
		{"2020-05-18", true, true, false, false, []int{1, 6}, ip(3), ip(2), true, true, anyoneH}, // split
		{"2020-05-29", true, true, false, false, []int{0, 5}, ip(3), ip(2), true, true, anyoneH},
		{"2020-05-31", true, true, true, false, nil, ip(3), ip(2), true, true, anyoneH},
		{"2020-06-01", true, false, false, false, nil, ip(3), nil, false, true, anyDay}, // no rotation, no count
		{"2020-06-03", true, false, false, false, nil, ip(3), nil, false, true, anyDay},
		{"2020-06-17", true, false, false, false, nil, ip(3), nil, false, true, anyDay},
		{"2020-06-18", true, false, false, false, nil, ip(10), nil, false, true, anyDay}, // 10
		{"2020-07-07", true, false, false, false, nil, ip(10), nil, false, true, anyDay},
		{"2020-07-08", true, false, false, false, nil, nil, nil, false, false, anyDay}, // no limit, no check
		{"2020-07-11", true, false, true, false, nil, nil, nil, false, false, anyDay},
		{date: "2020-07-12", rule: closed, quota: ip(0), perWeek: ip(0)}, // closed
		{date: "2020-12-31", rule: closed, quota: ip(0), perWeek: ip(0)},
	}
	for _, w := range rows {
		r := p.Rules(kst(t, w.date), 0)
		got := row{r.Date, r.SalesOpen, r.Rotation, r.Weekend, r.Holiday, r.DigitsToday, r.WeeklyQuota, r.PurchasesPerWeek, r.SplitPurchases, r.DuplicateCheck, r.WeekendRule}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("Rules(%s):\n got %s\nwant %s", w.date, dump(got), dump(w))
		}
		if r.Person != nil {
			t.Errorf("Rules(%s, 0) has a person", w.date)
		}
	}
}

func dump(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestKorea2020PersonRules(t *testing.T) {
	p := Korea2020()
	rows := []struct {
		date   string
		year   int
		mayBuy bool
		quota  *int
		days   []string
	}{
		{"2020-03-04", 1983, false, ip(0), []string{"2020-03-06", "2020-03-07", "2020-03-08"}},
		{"2020-03-11", 1983, true, ip(2), []string{"2020-03-11", "2020-03-14", "2020-03-15"}},
		{"2020-03-11", 1984, false, ip(2), []string{"2020-03-12", "2020-03-14", "2020-03-15"}},
		{"2020-04-15", 1988, true, ip(2), []string{"2020-04-15", "2020-04-18", "2020-04-19"}},
		{"2020-04-15", 1989, false, ip(2), []string{"2020-04-16", "2020-04-18", "2020-04-19"}},
		{"2020-04-30", 1981, true, ip(3), []string{"2020-04-27", "2020-04-30", "2020-05-02", "2020-05-03"}},
		{"2020-05-05", 1990, true, ip(3), []string{"2020-05-05", "2020-05-08", "2020-05-09", "2020-05-10"}},
		{"2020-06-03", 2005, true, ip(5), []string{"2020-06-01", "2020-06-02", "2020-06-03", "2020-06-04", "2020-06-05", "2020-06-06", "2020-06-07"}},
		{"2020-06-03", 2001, true, ip(3), []string{"2020-06-01", "2020-06-02", "2020-06-03", "2020-06-04", "2020-06-05", "2020-06-06", "2020-06-07"}},
		{"2020-06-18", 2005, true, ip(10), []string{"2020-06-15", "2020-06-16", "2020-06-17", "2020-06-18", "2020-06-19", "2020-06-20", "2020-06-21"}},
		{"2020-07-09", 1970, true, nil, []string{"2020-07-06", "2020-07-07", "2020-07-08", "2020-07-09", "2020-07-10", "2020-07-11"}},
		{"2020-07-12", 1970, false, ip(0), []string{"2020-07-06", "2020-07-07", "2020-07-08", "2020-07-09", "2020-07-10", "2020-07-11"}},
		{"2020-07-20", 1970, false, ip(0), []string{}},
	}
	for _, w := range rows {
		r := p.Rules(kst(t, w.date), w.year)
		pr := r.Person
		if pr == nil || pr.BirthYear != w.year || pr.MayBuy != w.mayBuy || !reflect.DeepEqual(pr.Quota, w.quota) || !reflect.DeepEqual(pr.DaysThisWeek, w.days) {
			t.Errorf("Rules(%s, %d).person = %s, want may_buy %v quota %s days %v", w.date, w.year, dump(pr), w.mayBuy, dump(w.quota), w.days)
		}
	}
	// The contract shape: digits_today null, weekly_quota null when unlimited, days [] not null.
	b, _ := json.Marshal(p.Rules(kst(t, "2020-07-20"), 1970))
	want := `{"date":"2020-07-20","sales_open":false,"rotation":false,"weekend_rule":"closed","digits_today":null,"weekly_quota":0,"purchases_per_week":0,"person":{"birth_year":1970,"may_buy":false,"quota":0,"days_this_week":[]},"weekend":false,"holiday":false,"split_purchases":false,"duplicate_check":false,"period_from":"2020-07-12"}`
	if string(b) != want {
		t.Errorf("JSON:\n got %s\nwant %s", b, want)
	}
	b, _ = json.Marshal(p.Rules(kst(t, "2020-07-08"), 0))
	want = `{"date":"2020-07-08","sales_open":true,"rotation":false,"weekend_rule":"any_day","digits_today":null,"weekly_quota":null,"purchases_per_week":null,"weekend":false,"holiday":false,"split_purchases":false,"duplicate_check":false,"period_from":"2020-07-08","proxy_day_rule":"either"}`
	if string(b) != want {
		t.Errorf("JSON:\n got %s\nwant %s", b, want)
	}
}

// Check() under korea-2020, date by date, including proxies and post offices.
func TestKorea2020Check(t *testing.T) {
	p := Korea2020()
	used := func(q int) Usage { return Usage{Quantity: q, Purchases: 1, WeekdayPurchases: 1} }
	cases := []struct {
		name      string
		date      string
		outlet    string
		people    []Person
		reason    string // "" = OK
		remaining []int  // per person, nil = not checked
		next      string // NextDate of the first failing person
	}{
		{"before sales", "2020-03-05", pharmacy, []Person{buyer(1983, 1)}, ReasonSalesClosed, []int{0}, "2020-03-06"},
		{"3-06 anyone", "2020-03-06", pharmacy, []Person{buyer(1984, 2)}, "", []int{2}, ""},
		{"3-08 anyone", "2020-03-08", pharmacy, []Person{buyer(1981, 2)}, "", nil, ""},
		{"3-08 more than 2", "2020-03-08", pharmacy, []Person{buyer(1981, 3)}, ReasonQuotaExceeded, []int{2}, "2020-03-09"},
		{"3-08 second purchase", "2020-03-08", pharmacy, []Person{buyerU(1981, 1, Usage{Quantity: 1, Purchases: 1, WeekendPurchases: 1})}, ReasonQuotaExceeded, []int{0}, "2020-03-09"},
		{"3-07 no proxies yet", "2020-03-07", pharmacy, []Person{buyer(1981, 1), proxy(2012, CategoryChild, 1)}, ReasonProxyNotAllowed, nil, "2020-03-10"},
		{"3-10 post offices not yet", "2020-03-10", post, []Person{buyer(1982, 1)}, ReasonOutletClosed, nil, "2020-03-14"},
		{"3-11 post office", "2020-03-11", post, []Person{buyer(1983, 1)}, "", nil, ""},
		{"3-11 3", "2020-03-11", pharmacy, []Person{buyer(1983, 2)}, "", nil, ""},
		{"3-11 8", "2020-03-11", pharmacy, []Person{buyer(1978, 2)}, "", nil, ""},
		{"3-11 4", "2020-03-11", pharmacy, []Person{buyer(1984, 2)}, ReasonNotEligibleToday, []int{2}, "2020-03-12"},
		{"3-11 2", "2020-03-11", pharmacy, []Person{buyer(1982, 2)}, ReasonNotEligibleToday, nil, "2020-03-14"},
		{"3-14 anyone", "2020-03-14", pharmacy, []Person{buyer(1984, 2)}, "", nil, ""},
		{"3-14 not twice", "2020-03-14", pharmacy, []Person{buyerU(1984, 1, Usage{Quantity: 1, Purchases: 1, WeekdayPurchases: 1})}, ReasonQuotaExceeded, []int{0}, "2020-03-19"},
		{"3-14 post office", "2020-03-14", post, []Person{buyer(1984, 2)}, ReasonOutletClosed, nil, "2020-03-15"},
		{"4-15 3/8", "2020-04-15", pharmacy, []Person{buyer(1988, 2)}, "", nil, ""},
		{"4-15 others", "2020-04-15", pharmacy, []Person{buyer(1984, 2)}, ReasonNotEligibleToday, nil, "2020-04-16"},
		{"4-15 post office open", "2020-04-15", post, []Person{buyer(1983, 2)}, "", nil, ""},
		{"4-26 still 2", "2020-04-26", pharmacy, []Person{buyer(1981, 3)}, ReasonQuotaExceeded, []int{2}, "2020-04-27"},
		{"4-27 quota 3", "2020-04-27", pharmacy, []Person{buyer(1981, 3)}, "", []int{3}, ""},
		{"4-27 not 4", "2020-04-27", pharmacy, []Person{buyer(1981, 4)}, ReasonQuotaExceeded, []int{3}, "2020-04-30"},
		{"4-30 anyone", "2020-04-30", pharmacy, []Person{buyer(1981, 3)}, "", nil, ""},
		{"4-30 post office closed", "2020-04-30", post, []Person{buyer(1984, 1)}, ReasonOutletClosed, nil, "2020-05-02"},
		{"5-05 anyone", "2020-05-05", pharmacy, []Person{buyer(1983, 3)}, "", nil, ""},
		{"5-05 counts as weekend", "2020-05-05", pharmacy, []Person{buyerU(1982, 1, used(1))}, ReasonQuotaExceeded, []int{0}, "2020-05-12"},
		{"5-13 one purchase", "2020-05-16", pharmacy, []Person{buyerU(1983, 1, used(1))}, ReasonQuotaExceeded, []int{0}, "2020-05-20"},
		{"5-23 split", "2020-05-23", pharmacy, []Person{buyerU(1983, 1, used(2))}, "", []int{1}, ""},
		{"5-21 weekday used", "2020-05-21", pharmacy, []Person{buyerU(1984, 1, used(1))}, ReasonQuotaExceeded, []int{2}, "2020-05-23"},
		{"6-01 any day", "2020-06-01", pharmacy, []Person{buyer(1984, 3)}, "", nil, ""},
		{"6-03 quota 5 for 2005", "2020-06-03", pharmacy, []Person{buyer(2005, 5)}, "", []int{5}, ""},
		{"6-03 not 6 for 2005", "2020-06-03", pharmacy, []Person{buyer(2005, 6)}, ReasonQuotaExceeded, []int{5}, "2020-06-04"},
		{"6-03 3 for 2001", "2020-06-03", pharmacy, []Person{buyer(2001, 4)}, ReasonQuotaExceeded, []int{3}, "2020-06-04"},
		{"6-03 no purchase count", "2020-06-03", pharmacy, []Person{buyerU(1984, 1, Usage{Quantity: 2, Purchases: 2, WeekdayPurchases: 2})}, "", []int{1}, ""},
		{"6-06 Saturday post office", "2020-06-06", post, []Person{buyer(1984, 1)}, ReasonOutletClosed, nil, "2020-06-07"},
		{"6-17 3", "2020-06-17", pharmacy, []Person{buyerU(1983, 1, used(3))}, ReasonQuotaExceeded, []int{0}, "2020-06-18"},
		{"6-18 10", "2020-06-18", pharmacy, []Person{buyerU(1983, 7, used(3))}, "", []int{7}, ""},
		{"6-18 not 11", "2020-06-18", pharmacy, []Person{buyerU(1983, 8, used(3))}, ReasonQuotaExceeded, []int{7}, "2020-06-19"},
		{"7-07 10", "2020-07-07", pharmacy, []Person{buyer(1983, 11)}, ReasonQuotaExceeded, []int{10}, "2020-07-08"},
		{"7-08 no limit", "2020-07-08", pharmacy, []Person{buyerU(1983, 500, Usage{Quantity: 1000, Purchases: 40})}, "", []int{-1}, ""},
		{"7-11 no limit", "2020-07-11", pharmacy, []Person{buyer(1983, 50)}, "", []int{-1}, ""},
		{"7-12 closed", "2020-07-12", pharmacy, []Person{buyer(1983, 1), proxy(2012, CategoryChild, 0)}, ReasonSalesClosed, []int{0, 0}, ""},

		// Proxies.
		{"3-11 child on the parent's day", "2020-03-11", pharmacy, []Person{buyer(1983, 0), proxy(2012, CategoryChild, 1)}, ReasonNotEligibleToday, []int{2, 2}, "2020-03-14"},
		{"3-18 child on the parent's day", "2020-03-18", pharmacy, []Person{buyer(1983, 0), proxy(2012, CategoryChild, 1)}, "", nil, ""},
		{"3-18 child and parent", "2020-03-18", pharmacy, []Person{buyer(1983, 2), proxy(2012, CategoryChild, 2)}, "", []int{2, 2}, ""},
		{"3-18 elderly on the parent's day", "2020-03-18", pharmacy, []Person{buyer(1983, 0), proxy(1939, CategoryElderly, 1)}, ReasonNotEligibleToday, nil, "2020-03-19"},
		{"3-19 elderly on the elder's day", "2020-03-19", pharmacy, []Person{buyer(1983, 0), proxy(1939, CategoryElderly, 2)}, "", nil, ""},
		{"3-18 false child", "2020-03-18", pharmacy, []Person{buyer(1983, 1), proxy(1990, CategoryChild, 1)}, ReasonProxyNotAllowed, nil, ""},
		// From 3-16 a minor (born 2002+) may be bought for with the parent on
		// the parent's day "whatever the minor's birth year"; on the minor's
		// own day without the parent's, only from 4-06 (child born 2002+).
		{"3-18 minor born 2005 on the parent's day", "2020-03-18", pharmacy, []Person{buyer(1983, 1), proxy(2005, CategoryChild, 1)}, "", nil, ""},
		{"3-30 minor born 2005 on the parent's day", "2020-03-30", pharmacy, []Person{buyer(1981, 1), proxy(2005, CategoryChild, 1)}, "", nil, ""},
		{"3-20 minor born 2005 on its own day only", "2020-03-20", pharmacy, []Person{buyer(1983, 0), proxy(2005, CategoryChild, 1)}, ReasonProxyNotAllowed, nil, "2020-03-21"},
		{"4-10 child born 2005 on its own day", "2020-04-10", pharmacy, []Person{buyer(1983, 0), proxy(2005, CategoryChild, 1)}, "", nil, ""},
		{"4-08 child born 2005 with its parent", "2020-04-08", pharmacy, []Person{buyer(1983, 1), proxy(2005, CategoryChild, 1)}, "", nil, ""},
		{"3-20 pregnant not yet", "2020-03-20", pharmacy, []Person{buyer(1985, 1), proxy(1990, CategoryPregnant, 1)}, ReasonProxyNotAllowed, nil, "2020-03-27"},
		{"3-25 pregnant on her day", "2020-03-25", pharmacy, []Person{buyer(1985, 0), proxy(1988, CategoryPregnant, 1)}, "", nil, ""},
		{"4-01 inpatient not yet", "2020-04-01", pharmacy, []Person{buyer(1983, 0), proxy(1963, CategoryInpatient, 1)}, ReasonProxyNotAllowed, nil, "2020-04-08"},
		{"4-08 inpatient", "2020-04-08", pharmacy, []Person{buyer(1983, 0), proxy(1963, CategoryInpatient, 1)}, "", nil, ""},
		{"4-22 elderly on the buyer's day", "2020-04-22", pharmacy, []Person{buyer(1983, 0), proxy(1939, CategoryElderly, 1)}, ReasonNotEligibleToday, nil, "2020-04-23"},
		{"4-29 elderly on the buyer's day", "2020-04-29", pharmacy, []Person{buyer(1983, 1), proxy(1939, CategoryElderly, 1)}, "", nil, ""},
		{"4-29 neither day", "2020-04-29", pharmacy, []Person{buyer(1984, 0), proxy(1939, CategoryElderly, 1)}, ReasonNotEligibleToday, nil, "2020-04-30"},
		{"5-13 family not yet", "2020-05-13", pharmacy, []Person{buyer(1983, 1), proxy(1955, CategoryFamily, 1)}, ReasonProxyNotAllowed, nil, "2020-05-20"},
		{"5-20 whole family", "2020-05-20", pharmacy, []Person{buyer(1983, 3), proxy(1955, CategoryFamily, 3), proxy(1981, CategoryFamily, 3)}, "", []int{3, 3, 3}, ""},
		{"5-20 one of them already bought", "2020-05-20", pharmacy, []Person{buyer(1983, 3), {Role: RoleProxy, BirthDate: born(1981), Category: CategoryFamily, Quantity: 1, Week: used(3)}}, ReasonQuotaExceeded, []int{3, 0}, "2020-05-25"},
		{"6-03 anyone for a child", "2020-06-03", pharmacy, []Person{buyer(1984, 0), proxy(2012, CategoryChild, 5)}, "", []int{3, 5}, ""},
		{"3-14 post office with a proxy", "2020-03-14", post, []Person{buyer(1984, 0), proxy(2012, CategoryChild, 1)}, ReasonOutletClosed, nil, "2020-03-15"},
	}
	for _, c := range cases {
		d := p.Check(kst(t, c.date), c.outlet, c.people)
		if d.OK != (c.reason == "") || d.Reason != c.reason {
			t.Errorf("%s (%s): OK=%v reason %q, want %q; %+v", c.name, c.date, d.OK, d.Reason, c.reason, d.Persons)
			continue
		}
		if c.remaining != nil {
			for i, want := range c.remaining {
				if got := d.Persons[i].Remaining; got != want {
					t.Errorf("%s: person %d remaining %d, want %d", c.name, i, got, want)
				}
			}
		}
		next := ""
		for _, v := range d.Persons {
			if !v.Eligible && v.NextDate != "" {
				next = v.NextDate
				break
			}
		}
		if next != c.next {
			t.Errorf("%s: next date %q, want %q; %+v", c.name, next, c.next, d.Persons)
		}
		if wantUnchecked := c.date == "2020-07-08" || c.date == "2020-07-11"; d.Unchecked != wantUnchecked {
			t.Errorf("%s: unchecked %v", c.name, d.Unchecked)
		}
	}
}

// On 5-20 (Wed) a buyer takes 2, on 5-23 (Sat) one more, then is refused.
func TestKorea2020SplitWeek(t *testing.T) {
	p := Korea2020()
	steps := []struct {
		date   string
		q      int
		reason string
		after  Usage
	}{
		{"2020-05-20", 2, "", Usage{Quantity: 2, Purchases: 1, WeekdayPurchases: 1, WeekendPurchases: 0}},
		{"2020-05-21", 1, ReasonQuotaExceeded, Usage{Quantity: 2, Purchases: 1, WeekdayPurchases: 1, WeekendPurchases: 0}}, // the weekday purchase is used
		{"2020-05-23", 2, ReasonQuotaExceeded, Usage{Quantity: 2, Purchases: 1, WeekdayPurchases: 1, WeekendPurchases: 0}}, // only 1 left
		{"2020-05-23", 1, "", Usage{Quantity: 3, Purchases: 2, WeekdayPurchases: 1, WeekendPurchases: 1}},
		{"2020-05-24", 1, ReasonQuotaExceeded, Usage{Quantity: 3, Purchases: 2, WeekdayPurchases: 1, WeekendPurchases: 1}},
	}
	u := Usage{}
	for _, s := range steps {
		d := p.Check(kst(t, s.date), pharmacy, []Person{buyerU(1983, s.q, u)})
		if d.Reason != s.reason || d.OK != (s.reason == "") {
			t.Fatalf("%s take %d: %+v, want %q", s.date, s.q, d, s.reason)
		}
		if d.OK {
			u.Add(s.q, p.IsWeekend(kst(t, s.date)))
		}
		if u != s.after {
			t.Fatalf("%s: usage %+v, want %+v", s.date, u, s.after)
		}
	}
	// Next week is fresh: 5-27 (Wed) again.
	d := p.Check(kst(t, "2020-05-24"), pharmacy, []Person{buyerU(1983, 1, u)})
	if d.Persons[0].NextDate != "2020-05-27" || d.Persons[0].Remaining != 0 {
		t.Errorf("after the week: %+v", d.Persons[0])
	}
}

func TestKorea2020CheckDigitSwitch(t *testing.T) {
	p := Korea2020()
	if !p.VerifyCheckDigit(kst(t, "2020-03-11")) {
		t.Error("korea-2020 verifies check digits")
	}
	p.Periods[2].NoCheckDigit = true // from 03-11
	if p.VerifyCheckDigit(kst(t, "2020-03-11")) || !p.VerifyCheckDigit(kst(t, "2020-03-10")) {
		t.Error("the switch is per period")
	}
}
