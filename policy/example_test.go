package policy_test

import (
	"fmt"
	"time"

	"github.com/publicmask/publicmask/policy"

	"github.com/publicmask/publicmask"
)

// A policy file: the rotation with 2 masks a week, post offices shut at weekends.
func ExampleParse() {
	p, err := policy.Parse([]byte(`
name: my-rules
periods:
  - from: 2020-03-09
    rotation:
      - {day: mon, digits: [1, 6]}
      - {day: tue, digits: [2, 7]}
      - {day: wed, digits: [3, 8]}
      - {day: thu, digits: [4, 9]}
      - {day: fri, digits: [5, 0]}
    quota: {per_week: 2}
    purchases: {per_week: 1}
    outlet_closed: {02: [weekend]}
`), "my-rules.yaml")
	if err != nil {
		panic(err)
	}
	wed := time.Date(2020, 3, 11, 9, 0, 0, 0, publicmask.Seoul)
	r := p.Rules(wed, 1984)
	fmt.Println(r.DigitsToday, *r.WeeklyQuota, r.Person.MayBuy, r.Person.DaysThisWeek)

	d := p.Check(wed, "01", []policy.Person{{Role: policy.RoleBuyer, BirthDate: time.Date(1984, 5, 1, 0, 0, 0, 0, time.UTC), Quantity: 2}})
	fmt.Println(d.OK, d.Reason, d.Persons[0].NextDate)
	// Output:
	// [3 8] 2 false [2020-03-12 2020-03-14 2020-03-15]
	// false not_eligible_today 2020-03-12
}
