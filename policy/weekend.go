package policy

import "time"

// IsWeekend reports whether t falls on a day that counts as weekend under the
// period in force (weekend days, and holidays where they count as weekend).
// A purchase counts in its week's Usage as a weekday or a weekend one by it.
func (p *Policy) IsWeekend(t time.Time) bool {
	date := Date(t)
	per := p.periodOn(date)
	if per == nil {
		wd := weekdayOf(date)
		return wd == time.Saturday || wd == time.Sunday
	}
	return per.isWeekend(date)
}
