package ledger

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/publicmask/publicmask"
)

// TestUsageTableIsAMap checks the packed table against the plain map it
// replaced, over keys of every shape: the ledger's (32 lowercase hex
// digits), the same in upper case (another key), short and odd keys, and
// counts beyond int32 (held exactly).
func TestUsageTableIsAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	persons := []string{"", "p1", "ABCDEF0123456789ABCDEF0123456789", "abcdef0123456789abcdef012345678", "abcdef0123456789abcdef01234567890"}
	for range 400 {
		persons = append(persons, fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()))
	}
	persons = append(persons, "0123456789abcdef0123456789ABCDEF", "0123456789abcdef0123456789abcdef")
	weeks := []string{"2020-03-02", "2020-03-09", "2020-03-16", "x"}
	ref := make(map[pwKey]*tally)
	tab := newUsageTable()
	for i := range 20000 {
		p, w := persons[rng.IntN(len(persons))], weeks[rng.IntN(len(weeks))]
		k := pwKey{p, w}
		switch op := rng.IntN(20); {
		case op < 12:
			qty := 1 + rng.IntN(3)
			if rng.IntN(500) == 0 {
				qty = math.MaxInt32 // the next add overflows the packed form
			}
			weekend := rng.IntN(3) == 0
			if ref[k] == nil {
				ref[k] = &tally{}
			}
			ref[k].Add(qty, weekend)
			tab.add(p, w, qty, weekend)
		case op < 18:
			var want publicmask.Usage
			if r := ref[k]; r != nil {
				want = r.Usage
			}
			if got := tab.get(p, w); got != want {
				t.Fatalf("op %d: get(%q, %q) = %+v, want %+v", i, p, w, got, want)
			}
		default:
			var want publicmask.Usage
			if r := ref[k]; r != nil {
				r.recorded = true
				want = r.Usage
			}
			if got := tab.record(p, w); got != want {
				t.Fatalf("op %d: record(%q, %q) = %+v, want %+v", i, p, w, got, want)
			}
		}
	}
	var want, got []string
	for k, r := range ref {
		if !r.recorded && r.Quantity > 0 {
			want = append(want, fmt.Sprintf("%s %s %+v", short(k.person), k.week, r.Usage))
		}
	}
	tab.unrecorded(func(person, week string, u publicmask.Usage) {
		got = append(got, fmt.Sprintf("%s %s %+v", person, week, u))
	})
	sort.Strings(want)
	sort.Strings(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("unrecorded:\n got %v\nwant %v", got, want)
	}
	if len(want) == 0 || len(tab.packed["2020-03-09"]) == 0 || len(tab.wide) == 0 {
		t.Fatalf("the test did not reach every case: %d unrecorded, %d packed, %d wide", len(want), len(tab.packed), len(tab.wide))
	}
}

// TestUsageTableManyPurchases: more purchases than the packed form counts
// move the person-week to the exact form without losing one.
func TestUsageTableManyPurchases(t *testing.T) {
	tab := newUsageTable()
	const p, w = "0123456789abcdef0123456789abcdef", "2020-03-09"
	for i := range 70000 {
		tab.add(p, w, 1, i%3 == 0)
	}
	want := publicmask.Usage{Quantity: 70000, Purchases: 70000, WeekdayPurchases: 46666, WeekendPurchases: 23334}
	if got := tab.record(p, w); got != want {
		t.Fatalf("record = %+v, want %+v", got, want)
	}
}
