package policy

import (
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// TestDayCacheAgrees: Date, weekdayOf and weekOf answer from the last day
// they saw; whatever order the instants come in (both sides of midnight,
// days apart, Seoul's daylight saving of 1987–88), they answer as the
// formulas without the cache do.
func TestDayCacheAgrees(t *testing.T) {
	var ts []time.Time
	for _, base := range []time.Time{
		time.Date(2020, 3, 11, 0, 0, 0, 0, publicmask.Seoul),
		time.Date(2020, 3, 15, 0, 0, 0, 0, publicmask.Seoul), // a Sunday
		time.Date(1987, 5, 10, 0, 0, 0, 0, publicmask.Seoul), // DST began at 02:00
		time.Date(1988, 10, 9, 0, 0, 0, 0, publicmask.Seoul), // DST ended at 03:00
	} {
		for _, d := range []time.Duration{-time.Nanosecond, 0, time.Nanosecond, time.Hour, 2*time.Hour + 30*time.Minute, 23 * time.Hour, 24*time.Hour - time.Nanosecond, 24 * time.Hour, 25 * time.Hour} {
			ts = append(ts, base.Add(d), base.Add(d).UTC())
		}
	}
	for round := range 3 {
		for i := range ts {
			at := ts[(i*7+round)%len(ts)]
			want := at.In(publicmask.Seoul).Format(dateLayout)
			if got := Date(at); got != want {
				t.Fatalf("Date(%v) = %s, want %s", at, got, want)
			}
			p, _ := time.ParseInLocation(dateLayout, want, publicmask.Seoul)
			if got := weekdayOf(want); got != p.Weekday() {
				t.Fatalf("weekdayOf(%s) = %v, want %v", want, got, p.Weekday())
			}
			if got, w := weekOf(want), WeekStart(p).Format(dateLayout); got != w {
				t.Fatalf("weekOf(%s) = %s, want %s", want, got, w)
			}
		}
	}
}

// A rules query may name any date (GET /api/v2/rules?date=…) in the process
// that judges sales. A day about 2^64 ns (584.5 years) away once wrapped
// around the cache's bounds and made it claim today, so every sale was
// judged on the far date's rules.
func TestDayCacheFarDatesDoNotPoisonToday(t *testing.T) {
	now := time.Date(2026, 12, 1, 14, 0, 0, 0, publicmask.Seoul)
	want := "2026-12-01"
	wrap := now.Add(1 << 62).Add(1 << 62).Add(1 << 62).Add(1 << 62) // 2^64 ns later
	for _, far := range []time.Time{
		wrap,
		now.AddDate(-400, 0, 0),
		time.Date(9999, 12, 31, 12, 0, 0, 0, publicmask.Seoul),
		time.Date(1, 1, 1, 12, 0, 0, 0, publicmask.Seoul),
	} {
		Date(now)
		Date(now.AddDate(0, 0, 1)) // the cache no longer holds today
		farDate := Date(far)
		if got, exp := farDate, far.In(publicmask.Seoul).Format(dateLayout); got != exp {
			t.Errorf("Date(%v) = %s, want %s", far, got, exp)
		}
		if got := Date(now); got != want {
			t.Errorf("after a query for %s, Date(now) = %s, want %s", farDate, got, want)
		}
	}
}

// TestAheadAgrees: a date's horizon (aheadOf, what a refusal's NextDate
// looks at) holds the days addDays and WeekStart give, whatever the date
// (month and year ends, a leap day, Seoul's daylight saving of 1987–88),
// and dayOfDate answers its days from it as the formulas do.
func TestAheadAgrees(t *testing.T) {
	for _, date := range []string{"2020-03-11", "2020-02-20", "2020-12-25", "2019-12-31", "1987-05-01", "1988-10-01", "2026-12-03", "2100-02-20"} {
		a := aheadOf(date)
		if a.date != date || lastAhead.Load() != a {
			t.Fatalf("aheadOf(%s) = %s, not kept", date, a.date)
		}
		for k, d := range a.days {
			want := addDays(date, k)
			p, _ := parseDate(want)
			if d.date != want || d.weekday != p.Weekday() || d.week != WeekStart(p).Format(dateLayout) ||
				d.start != p.Unix() || d.end != p.AddDate(0, 0, 1).Unix() {
				t.Fatalf("aheadOf(%s).days[%d] = %+v, want %s (%v, week of %s)", date, k, *d, want, p.Weekday(), WeekStart(p).Format(dateLayout))
			}
			if got := dayOfDate(want); got.date != want || got.week != d.week || got.weekday != d.weekday {
				t.Fatalf("dayOfDate(%s) = %+v", want, *got)
			}
		}
	}
}

// TestRefusalKeepsToday: judging a refused purchase looks two weeks ahead
// for its NextDate; the sale's own day stays the cached one, so that the
// next sale's Date does not parse and format it again.
func TestRefusalKeepsToday(t *testing.T) {
	p := Standard()
	at := kst(t, "2020-03-11 09:00:00") // a Wednesday: birth years ending 3 or 8
	d := p.Check(at, pharmacy, []Person{buyer(1981, 2)})
	if d.OK || d.Reason != ReasonNotEligibleToday || d.Persons[0].NextDate == "" {
		t.Fatalf("Check = %+v, want refused with a next date", d)
	}
	if got := lastDay.Load(); got == nil || got.date != "2020-03-11" {
		t.Fatalf("the last day after a refusal is %v, want 2020-03-11", got)
	}
	if got := Date(at); got != "2020-03-11" {
		t.Fatalf("Date = %s", got)
	}
}
