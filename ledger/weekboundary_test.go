package ledger_test

import (
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
)

// TestLiveSalesAcrossTheWeekBoundary: the weekday and the week of a live
// sale are those of Korea at the clock's instant, whatever location the
// clock's time is in (a host in UTC, or anywhere else): Monday 00:00 KST is
// still Sunday in UTC and in Los Angeles, yet it is Monday's birth years'
// day and the first instant of a new week.
func TestLiveSalesAcrossTheWeekBoundary(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	sunLast := time.Date(2020, 3, 15, 23, 59, 59, 999_000_000, publicmask.Seoul)
	monFirst := time.Date(2020, 3, 16, 0, 0, 0, 0, publicmask.Seoul)
	for _, loc := range []*time.Location{publicmask.Seoul, time.UTC, la} {
		t.Run(loc.String(), func(t *testing.T) {
			e := testenv.New(t)
			e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 100)
			b81, b83 := testenv.Born(1981, 1), testenv.Born(1983, 1)
			// Sunday's last instant: the weekend, anyone who has not
			// bought this week; their week's one purchase is then used.
			e.Clock.Set(sunLast.In(loc))
			if _, _, err := sell(e, "10000001", "sun", b81, 2); err != nil {
				t.Fatalf("Sunday 23:59:59.999 KST: %v", err)
			}
			if _, _, err := sell(e, "10000001", "sun-again", b81, 1); err == nil {
				t.Fatal("a second purchase in the week that ends on Sunday was sold")
			}
			// Monday's first instant: a new week, birth years ending 1 or 6.
			e.Clock.Set(monFirst.In(loc))
			if _, _, err := sell(e, "10000001", "mon", b81, 2); err != nil {
				t.Fatalf("Monday 00:00 KST, a new week, 1981's day: %v", err)
			}
			if _, _, err := sell(e, "10000001", "mon-83", b83, 2); publicmask.ErrorCode(err) != publicmask.ENotEligibleToday {
				t.Fatalf("Monday 00:00 KST for 1983: %v, want %s (a Sunday in UTC would have let them buy)", err, publicmask.ENotEligibleToday)
			}
		})
	}
}
