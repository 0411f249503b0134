package policy

// Preset names.
const (
	PresetStandard  = "standard"
	PresetKorea2020 = "korea-2020"
)

// Preset returns a fresh copy of a built-in policy by name.
func Preset(name string) (*Policy, bool) {
	switch name {
	case PresetStandard:
		return Standard(), true
	case PresetKorea2020:
		return Korea2020(), true
	}
	return nil, false
}

// Presets lists the preset names.
func Presets() []string { return []string{PresetStandard, PresetKorea2020} }

// The 2020 rotation (마스크 5부제): last digit of the birth year → weekday.
func rotation2020() []RotationDay {
	return []RotationDay{
		{Day: "mon", Digits: []int{1, 6}},
		{Day: "tue", Digits: []int{2, 7}},
		{Day: "wed", Digits: []int{3, 8}},
		{Day: "thu", Digits: []int{4, 9}},
		{Day: "fri", Digits: []int{5, 0}},
	}
}

func weekend() []string { return []string{"sat", "sun"} }

// Post offices did not sell at weekends (POLICY-2020.md). "weekend" also
// closes them on holidays that count as weekend days (30 April, 5 May
// 2020): post offices are shut on public holidays, and those days follow the
// weekend rules. A holiday that is an ordinary weekday under the rules (15
// April) leaves them open, as the rules treat it as a weekday.
func postClosedWeekends() map[string][]string {
	return map[string][]string{"02": {ClosedWeekend}}
}

// Before 11 March 2020 post offices did not sell masks at all.
func postClosedAlways() map[string][]string {
	return map[string][]string{"02": {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}}
}

func categories(names ...string) []ProxyCategory {
	out := make([]ProxyCategory, 0, len(names))
	for _, n := range names {
		c := ProxyCategory{Name: n}
		switch n {
		case CategoryChild:
			c.BornFrom = 2010
		case CategoryElderly:
			c.BornTo = 1940
		}
		out = append(out, c)
	}
	return out
}

// Standard is the rules of 9 March 2020 without an end: rotation, weekends
// open to anyone who has not bought that week, 2 masks and 1 purchase per
// week, check digit verified, proxies for children (born 2010+), elderly
// (born 1940 or earlier), long-term care recipients and disabled people on
// the represented person's day, post offices closed at weekends, no
// holidays. Its single period starts on 2020-01-01 (not 2020-03-09) so that
// demo clocks set before March still see sales open.
func Standard() *Policy {
	return &Policy{Name: PresetStandard, Periods: []Period{{
		From:         "2020-01-01",
		Note:         "rules of 9 March 2020, without an end date",
		Rotation:     rotation2020(),
		WeekendDays:  weekend(),
		Quota:        &Quota{PerWeek: 2},
		Purchases:    &Purchases{PerWeek: 1},
		OutletClosed: postClosedWeekends(),
		Proxy: &Proxy{DayRule: DayRepresented, Categories: categories(
			CategoryChild, CategoryElderly, CategoryLongTermCare, CategoryDisabled)},
	}}}
}

// Korea2020 is the full 2020 timeline of POLICY-2020.md, as data.
func Korea2020() *Policy {
	t := &timeline{p: &Policy{Name: PresetKorea2020}}
	t.march()
	t.aprilToJuly()
	return t.p.Clone() // the copies share slices
}

// timeline builds a policy period by period. Copy-and-change (last, then
// add) keeps each period complete and the differences visible.
type timeline struct{ p *Policy }

func (t *timeline) add(per Period) { t.p.Periods = append(t.p.Periods, per) }

func (t *timeline) last() Period {
	c := t.p.Periods[len(t.p.Periods)-1]
	c.Note, c.Holidays, c.HolidaysAsWeekend = "", nil, false
	return c
}

// march: the first sales, the rotation, post offices, proxies.
func (t *timeline) march() {
	t.add(Period{
		From:         "2020-03-06",
		Note:         "before the rotation: 2 masks per person over 6-8 March, anyone, one purchase (adopted)",
		WeekendDays:  weekend(),
		Quota:        &Quota{PerWeek: 2},
		Purchases:    &Purchases{PerWeek: 1},
		OutletClosed: postClosedAlways(),
	})

	c := t.last()
	c.From, c.Note = "2020-03-09", "rotation (5부제); 2 per week, one purchase; proxies on the represented person's day"
	c.Rotation = rotation2020()
	c.Proxy = &Proxy{DayRule: DayRepresented, Categories: categories(
		CategoryChild, CategoryElderly, CategoryLongTermCare, CategoryDisabled)}
	t.add(c)

	c = t.last()
	c.From, c.Note = "2020-03-11", "post offices sell (weekdays only)"
	c.OutletClosed = postClosedWeekends()
	t.add(c)

	c = t.last()
	c.From, c.Note = "2020-03-16", "a parent may buy for an accompanying minor (born 2002+) on the parent's day (adopted date)"
	c.Proxy = &Proxy{DayRule: DayMinorWithBuyer, MinorBornFrom: 2002, Categories: c.Proxy.Categories}
	t.add(c)

	c = t.last()
	c.From, c.Note = "2020-03-23", "proxies also for pregnant women and injured national-merit recipients"
	c.Proxy = &Proxy{DayRule: DayMinorWithBuyer, MinorBornFrom: 2002, Categories: categories(
		CategoryChild, CategoryElderly, CategoryLongTermCare, CategoryDisabled,
		CategoryPregnant, CategoryNationalMerit)}
	t.add(c)
}

// aprilToJuly: wider proxies, bigger quotas, then no limit, then the end.
func (t *timeline) aprilToJuly() {
	c := t.last()
	c.From, c.Note = "2020-04-06", "proxies for everyone born 2002+, inpatients, care-facility residents; 15 April (election day) is an ordinary weekday"
	cats := categories(CategoryChild, CategoryElderly, CategoryLongTermCare, CategoryDisabled,
		CategoryPregnant, CategoryNationalMerit, CategoryInpatient, CategoryCareFacility)
	cats[0].BornFrom = 2002
	c.Proxy = &Proxy{DayRule: DayMinorWithBuyer, MinorBornFrom: 2002, Categories: cats}
	c.Holidays = []string{"2020-04-15"}
	t.add(c)
	// 04-20 (a family-relation certificate may replace co-residence) changes
	// only the documents the outlet sees: nothing computable, no period.

	c = t.last()
	c.From, c.Note = "2020-04-27", "3 per week; holidays count as weekend days; a proxy may buy on either person's day"
	c.Quota = &Quota{PerWeek: 3}
	c.Proxy = &Proxy{DayRule: DayEither, Categories: cats}
	c.Holidays, c.HolidaysAsWeekend = []string{"2020-04-30", "2020-05-05"}, true
	t.add(c)

	c = t.last()
	c.From, c.Note = "2020-05-18", "two purchases: one on the weekday, one at the weekend; any family member may buy for the family"
	c.Purchases = &Purchases{PerWeek: 2, Split: true}
	c.Proxy = &Proxy{DayRule: DayEither, Categories: append(append([]ProxyCategory(nil), cats...), ProxyCategory{Name: CategoryFamily})}
	c.HolidaysAsWeekend = true // no holidays left in the period, but the rule stays
	t.add(c)

	c = t.last()
	c.From, c.Note = "2020-06-01", "no rotation; 3 per week, 5 for people born 2002+; no purchase count limit"
	c.Rotation = nil
	c.Quota = &Quota{PerWeek: 3, Brackets: []Bracket{{BornFrom: 2002, PerWeek: 5}}}
	c.Purchases = &Purchases{Unlimited: true}
	c.HolidaysAsWeekend = true
	t.add(c)

	c = t.last()
	c.From, c.Note = "2020-06-18", "10 per week for everyone; the duplicate check stays"
	c.Quota = &Quota{PerWeek: 10}
	c.HolidaysAsWeekend = true
	t.add(c)

	c = t.last()
	c.From, c.Until, c.Note = "2020-07-08", "2020-07-11", "no limit and no duplicate check"
	c.Quota = &Quota{Unlimited: true}
	c.NoDuplicateCheck = true
	c.HolidaysAsWeekend = true
	t.add(c)

	t.add(Period{From: "2020-07-12", Closed: true, WeekendDays: weekend(),
		Note: "the public-mask system ends"})
}
