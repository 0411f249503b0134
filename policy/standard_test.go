package policy

import (
	"slices"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// Every birth-year digit × every weekday under standard, in the week of
// Monday 2020-03-09.
func TestStandardDigitByWeekday(t *testing.T) {
	p := Standard()
	ownDay := [10]int{4, 0, 1, 2, 3, 4, 0, 1, 2, 3} // digit → days after Monday (5/0 Fri, 1/6 Mon, …)
	for digit := range 10 {
		for day := range 7 {
			year := 1980 + digit
			at := kst(t, "2020-03-09").AddDate(0, 0, day)
			date := Date(at)
			wantOK := day >= 5 || ownDay[digit] == day
			d := p.Check(at, pharmacy, []Person{buyer(year, 2)})
			if d.OK != wantOK {
				t.Errorf("born %d on %s (%s): OK=%v, want %v (%s)", year, date, at.Weekday(), d.OK, wantOK, d.Reason)
				continue
			}
			if wantOK {
				if d.Reason != "" || d.Persons[0].NextDate != "" || d.Persons[0].Remaining != 2 {
					t.Errorf("born %d on %s: verdict %+v", year, date, d.Persons[0])
				}
				if p.IsWeekend(at) != (day >= 5) {
					t.Errorf("born %d on %s: counted as weekend %v", year, date, p.IsWeekend(at))
				}
			} else {
				// Next chance: the person's own day later this week, else Saturday.
				next := 5
				if ownDay[digit] > day {
					next = ownDay[digit]
				}
				wantNext := Date(kst(t, "2020-03-09").AddDate(0, 0, next))
				if d.Reason != ReasonNotEligibleToday || d.Persons[0].NextDate != wantNext {
					t.Errorf("born %d on %s: reason %q next %q, want %q %q", year, date, d.Reason, d.Persons[0].NextDate, ReasonNotEligibleToday, wantNext)
				}
			}
			r := p.Rules(at, year)
			if r.Person.MayBuy != wantOK {
				t.Errorf("Rules(%s, %d).may_buy = %v, want %v", date, year, r.Person.MayBuy, wantOK)
			}
			if day < 5 && !slices.Contains(r.DigitsToday, digit) == (ownDay[digit] == day) {
				t.Errorf("Rules(%s).digits_today = %v, digit %d", date, r.DigitsToday, digit)
			}
			if day >= 5 && r.DigitsToday != nil {
				t.Errorf("Rules(%s).digits_today = %v, want null at the weekend", date, r.DigitsToday)
			}
		}
	}
}

// The standard rules on Wednesday 2020-03-11: a 1983 buyer may take 2 masks
// once a week, a 1984 buyer waits for Thursday, check digits are verified,
// and the policy holds from 2020-01-01 on.
func TestStandardRotationWeek(t *testing.T) {
	p := Standard()
	at := kst(t, "2020-03-11 09:00:00")
	d := p.Check(at, pharmacy, []Person{buyer(1983, 2)})
	if !d.OK {
		t.Fatalf("1983 buying 2 on 3-11: %+v", d)
	}
	again := p.Check(at.Add(time.Hour), pharmacy, []Person{buyerU(1983, 1, Usage{Quantity: 2, Purchases: 1, WeekdayPurchases: 1})})
	if again.OK || again.Reason != ReasonQuotaExceeded || again.Persons[0].Remaining != 0 {
		t.Errorf("second purchase: %+v", again)
	}
	// Not again this week, Monday 3-16 is not theirs, Wednesday 3-18 is.
	if got := again.Persons[0].NextDate; got != "2020-03-18" {
		t.Errorf("next date after the week's purchase = %q, want 2020-03-18", got)
	}
	if d := p.Check(at, pharmacy, []Person{buyer(1984, 1)}); d.OK || d.Reason != ReasonNotEligibleToday {
		t.Errorf("1984 on 3-11: %+v", d)
	}
	if !p.VerifyCheckDigit(at) {
		t.Error("standard must verify check digits")
	}
	// Standard starts 2020-01-01 so that demo clocks before March work, and never ends.
	for _, s := range []string{"2020-01-01", "2020-02-05", "2031-06-04"} {
		if r := p.Rules(kst(t, s), 0); !r.SalesOpen || !r.Rotation {
			t.Errorf("standard on %s: %+v", s, r)
		}
	}
	if r := p.Rules(kst(t, "2019-12-31"), 0); r.SalesOpen {
		t.Errorf("standard before 2020: %+v", r)
	}
}

func TestWeekBoundaries(t *testing.T) {
	sunLast := time.Date(2020, 3, 15, 14, 59, 59, 0, time.UTC) // Sunday 23:59:59 KST
	monFirst := time.Date(2020, 3, 15, 15, 0, 0, 0, time.UTC)  // Monday 00:00:00 KST
	for _, c := range []struct {
		at         time.Time
		date, week string
	}{
		{sunLast, "2020-03-15", "2020-03-09"},
		{monFirst, "2020-03-16", "2020-03-16"},
		{time.Date(2020, 3, 9, 0, 0, 0, 0, publicmask.Seoul), "2020-03-09", "2020-03-09"},
		{time.Date(2020, 3, 8, 23, 0, 0, 0, time.UTC), "2020-03-09", "2020-03-09"},                        // 08:00 KST Monday
		{time.Date(2020, 3, 14, 23, 0, 0, 0, time.FixedZone("PST", -8*3600)), "2020-03-15", "2020-03-09"}, // Sunday 16:00 KST
	} {
		if got := Date(c.at); got != c.date {
			t.Errorf("Date(%v) = %s, want %s", c.at, got, c.date)
		}
		ws := WeekStart(c.at)
		if got := ws.Format("2006-01-02"); got != c.week || ws.Location() != publicmask.Seoul || ws.Hour() != 0 || ws.Weekday() != time.Monday {
			t.Errorf("WeekStart(%v) = %v, want Monday %s 00:00 KST", c.at, ws, c.week)
		}
	}

	p := Standard()
	used := Usage{Quantity: 2, Purchases: 1, WeekdayPurchases: 1}
	// Same week: the purchase of Monday 3-09 still counts on Sunday night.
	if d := p.Check(sunLast, pharmacy, []Person{buyerU(1986, 1, used)}); d.OK || d.Reason != ReasonQuotaExceeded {
		t.Errorf("Sunday 23:59:59 with the week used: %+v", d)
	}
	// A new week at Monday 00:00:00: fresh usage, and Monday is 1/6's day.
	if d := p.Check(monFirst, pharmacy, []Person{buyer(1986, 2)}); !d.OK {
		t.Errorf("Monday 00:00:00 for 1986: %+v", d)
	}
	// Sunday night is weekend (anyone); Monday 00:00 is not 1984's day.
	if d := p.Check(sunLast, pharmacy, []Person{buyer(1984, 2)}); !d.OK || !p.IsWeekend(sunLast) {
		t.Errorf("1984 on Sunday 23:59:59: %+v", d)
	}
	if d := p.Check(monFirst, pharmacy, []Person{buyer(1984, 2)}); d.OK || d.Reason != ReasonNotEligibleToday || d.Persons[0].NextDate != "2020-03-19" {
		t.Errorf("1984 on Monday 00:00:00: %+v", d)
	}
	// Post office: open Friday 23:59:59, closed Saturday 00:00:00.
	fri := time.Date(2020, 3, 13, 14, 59, 59, 0, time.UTC)
	if d := p.Check(fri, post, []Person{buyer(1985, 1)}); !d.OK {
		t.Errorf("post office Friday 23:59:59: %+v", d)
	}
	if d := p.Check(fri.Add(time.Second), post, []Person{buyer(1985, 1)}); d.OK || d.Reason != ReasonOutletClosed {
		t.Errorf("post office Saturday 00:00:00: %+v", d)
	}
	if p.IsWeekend(fri) || !p.IsWeekend(fri.Add(time.Second)) || !p.IsWeekend(sunLast) || p.IsWeekend(monFirst) {
		t.Error("IsWeekend wrong around the weekend")
	}
}

func TestStandardProxies(t *testing.T) {
	p := Standard()
	wed := kst(t, "2020-03-11")
	cases := []struct {
		name   string
		at     time.Time
		people []Person
		reason string // "" = OK
	}{
		{"child on the child's day", kst(t, "2020-03-10"), []Person{buyer(1983, 0), proxy(2012, CategoryChild, 1)}, ""},
		{"child on the parent's day only", wed, []Person{buyer(1983, 0), proxy(2012, CategoryChild, 1)}, ReasonNotEligibleToday},
		{"elderly on the elder's day", kst(t, "2020-03-12"), []Person{buyer(1983, 0), proxy(1939, CategoryElderly, 2)}, ""},
		{"false child", wed, []Person{buyer(1983, 1), proxy(1998, CategoryChild, 1)}, ReasonProxyNotAllowed},
		{"false elderly", wed, []Person{buyer(1983, 1), proxy(1948, CategoryElderly, 1)}, ReasonProxyNotAllowed},
		{"pregnant not in standard", wed, []Person{buyer(1983, 1), proxy(1988, CategoryPregnant, 1)}, ReasonProxyNotAllowed},
		{"unknown category", wed, []Person{buyer(1983, 1), proxy(1988, "cousin", 1)}, ReasonProxyNotAllowed},
		{"disabled any year on their day", wed, []Person{buyer(1983, 1), proxy(1978, CategoryDisabled, 2)}, ""},
		{"buyer with nothing for nobody", wed, []Person{buyer(1983, 0)}, ReasonBadRequest},
		{"negative quantity", wed, []Person{buyer(1983, -1), proxy(1978, CategoryDisabled, 2)}, ReasonBadRequest},
		{"no persons", wed, nil, ReasonBadRequest},
		{"proxy of quantity 0 is not judged", wed, []Person{buyer(1983, 1), proxy(1990, CategoryChild, 0)}, ""},
		{"weekend: child any birth year", kst(t, "2020-03-14"), []Person{buyer(1981, 1), proxy(2011, CategoryChild, 1)}, ""},
		{"post office Saturday with a proxy", kst(t, "2020-03-14"), []Person{buyer(1981, 0), proxy(2011, CategoryChild, 1)}, ReasonOutletClosed},
	}
	for _, c := range cases {
		typ := pharmacy
		if c.name == "post office Saturday with a proxy" {
			typ = post
		}
		d := p.Check(c.at, typ, c.people)
		if d.OK != (c.reason == "") || d.Reason != c.reason {
			t.Errorf("%s: OK=%v reason %q, want %q; %+v", c.name, d.OK, d.Reason, c.reason, d.Persons)
		}
		if c.reason == ReasonOutletClosed {
			for i, v := range d.Persons {
				if v.Reason != ReasonOutletClosed {
					t.Errorf("%s: person %d reason %q, want outlet_closed for everyone", c.name, i, v.Reason)
				}
			}
		}
	}
}
