package policy

import (
	"sync/atomic"
	"time"

	"github.com/publicmask/publicmask"
)

const dateLayout = "2006-01-02"

// Date is the calendar date of t in Asia/Seoul, "YYYY-MM-DD".
func Date(t time.Time) string {
	if d := lastDay.Load(); d != nil && d.holds(t) {
		return d.date
	}
	return dayOf(t).date
}

// day is one calendar day in Seoul, what the helpers below derive from a
// date. A sale asks for its date, weekday and week several times (period,
// rules, weekend, quota), and formatting or parsing a date each time was
// about 2% of the server's CPU per sale; nearly every call is about the day
// of the last one, so the last day is kept.
type day struct {
	date       string
	start, end int64 // [start, end) in Unix seconds: nanoseconds wrap past 2262, and a far date (a rules query) must not make today's look cached
	weekday    time.Weekday
	week       string // its Monday
}

var lastDay atomic.Pointer[day]

func (d *day) holds(t time.Time) bool {
	n := t.Unix() // floored: a Seoul midnight is a whole second
	return n >= d.start && n < d.end
}

// dayOf makes t's day (midnight to midnight in Seoul, whatever its length)
// and keeps it as the last one.
func dayOf(t time.Time) *day {
	d := makeDay(t)
	lastDay.Store(d)
	return d
}

// makeDay makes t's day.
func makeDay(t time.Time) *day {
	s := t.In(publicmask.Seoul)
	y, m, dd := s.Date()
	start := time.Date(y, m, dd, 0, 0, 0, 0, publicmask.Seoul)
	return &day{date: start.Format(dateLayout), start: start.Unix(),
		end: time.Date(y, m, dd+1, 0, 0, 0, 0, publicmask.Seoul).Unix(), weekday: start.Weekday(),
		week: WeekStart(start).Format(dateLayout)}
}

// dayOfDate is the day of a canonical date, from the last day when it is
// that one, or from the last horizon (aheadOf) when it is one of its days.
func dayOfDate(date string) *day {
	if d := lastDay.Load(); d != nil && d.date == date {
		return d
	}
	if a := lastAhead.Load(); a != nil {
		for _, d := range a.days {
			if d.date == date {
				return d
			}
		}
	}
	t, _ := parseDate(date)
	return dayOf(t)
}

// ahead is a date and the nextDateHorizon days after it: days[k] is date
// plus k days. A refused sale's NextDate looks at each of them; parsing and
// formatting them per refusal, and so evicting the sale's own day from
// lastDay for the next sale, was ~1.5% of the server's CPU in a capacity
// rush (about one sale in six is refused). Nearly every refusal is about
// the last date, so the last horizon is kept.
type ahead struct {
	date string
	days [nextDateHorizon + 1]*day
}

var lastAhead atomic.Pointer[ahead]

// aheadOf is the horizon of a canonical date.
func aheadOf(date string) *ahead {
	if a := lastAhead.Load(); a != nil && a.date == date {
		return a
	}
	t, _ := parseDate(date)
	a := &ahead{date: date}
	for k := range a.days {
		a.days[k] = makeDay(t.AddDate(0, 0, k))
	}
	lastAhead.Store(a)
	return a
}

// WeekStart is Monday 00:00 Asia/Seoul of the week containing t.
func WeekStart(t time.Time) time.Time {
	s := t.In(publicmask.Seoul)
	back := (int(s.Weekday()) + 6) % 7 // days since Monday
	y, m, d := s.Date()
	return time.Date(y, m, d-back, 0, 0, 0, 0, publicmask.Seoul)
}

// parseDate parses a canonical "YYYY-MM-DD" as midnight in Seoul. Only the
// canonical form is accepted so that dates compare correctly as strings.
func parseDate(s string) (time.Time, bool) {
	t, err := time.ParseInLocation(dateLayout, s, publicmask.Seoul)
	if err != nil || t.Format(dateLayout) != s {
		return time.Time{}, false
	}
	return t, true
}

// addDays adds n calendar days to a canonical date.
func addDays(date string, n int) string {
	t, _ := parseDate(date)
	return t.AddDate(0, 0, n).Format(dateLayout)
}

// weekdayOf is the weekday of a canonical date.
func weekdayOf(date string) time.Weekday { return dayOfDate(date).weekday }

// weekOf is the Monday ("YYYY-MM-DD") of a canonical date's week.
func weekOf(date string) string { return dayOfDate(date).week }

var dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func parseWeekday(s string) (time.Weekday, bool) {
	for i, n := range dayNames {
		if n == s {
			return time.Weekday(i), true
		}
	}
	return 0, false
}
