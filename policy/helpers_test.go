package policy

import (
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// kst parses "2006-01-02 15:04:05" (or "2006-01-02", 10:00) in Korea time.
func kst(t testing.TB, s string) time.Time {
	t.Helper()
	layout := "2006-01-02 15:04:05"
	if len(s) == len("2006-01-02") {
		s += " 10:00:00"
	}
	v, err := time.ParseInLocation(layout, s, publicmask.Seoul)
	if err != nil {
		t.Fatalf("bad test time %q: %v", s, err)
	}
	return v
}

func born(year int) time.Time { return time.Date(year, 7, 1, 0, 0, 0, 0, time.UTC) }

func buyer(year, q int) Person { return Person{Role: RoleBuyer, BirthDate: born(year), Quantity: q} }

func buyerU(year, q int, u Usage) Person {
	p := buyer(year, q)
	p.Week = u
	return p
}

func proxy(year int, cat string, q int) Person {
	return Person{Role: RoleProxy, BirthDate: born(year), Category: cat, Quantity: q}
}

const pharmacy, post = "01", "02"
