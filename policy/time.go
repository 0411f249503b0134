package policy

import (
	"time"

	"github.com/publicmask/publicmask"
)

const dateLayout = "2006-01-02"

// Date is the calendar date of t in Asia/Seoul, "YYYY-MM-DD".
func Date(t time.Time) string { return t.In(publicmask.Seoul).Format(dateLayout) }

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
func weekdayOf(date string) time.Weekday {
	t, _ := parseDate(date)
	return t.Weekday()
}

// weekOf is the Monday ("YYYY-MM-DD") of a canonical date's week.
func weekOf(date string) string {
	t, _ := parseDate(date)
	return WeekStart(t).Format(dateLayout)
}

var dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func parseWeekday(s string) (time.Weekday, bool) {
	for i, n := range dayNames {
		if n == s {
			return time.Weekday(i), true
		}
	}
	return 0, false
}
