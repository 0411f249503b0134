package storetest

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// testPersonWeeksOfSales records sales as the ledger does (each person's
// week read, added to and put, then the sale), one batch at a time, and
// checks that every read of person-weeks agrees with the sales after each:
// the lean read, PersonWeeksSince, the audit's, and the next batch's own.
// A store may keep the rows of such batches anywhere (in memory, written
// later); what any reader sees must not differ. Then a
// cancellation, and a purge of the first week while the second's batches
// are recent.
func testPersonWeeksOfSales(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000001")
	const w1, w2 = "2020-03-09", "2020-03-16"
	want := map[string]map[string]publicmask.Usage{w1: {}, w2: {}}
	n := 0
	sell := func(week string, weekend bool, items ...publicmask.SaleItem) string {
		t.Helper()
		n++
		id := fmt.Sprintf("pw%03d", n)
		write(t, s, func(tx publicmask.Tx) error {
			keys := make([]string, 0, len(items))
			total := 0
			for _, it := range items {
				keys = append(keys, it.Person)
				total += it.Quantity
			}
			usage, err := tx.PersonWeeks(week, keys)
			if err != nil {
				return err
			}
			for _, it := range items {
				if got, w := usage[it.Person].Usage, want[week][it.Person]; got != w {
					return fmt.Errorf("tx.PersonWeeks %s/%s = %+v, want %+v", week, it.Person, got, w)
				}
				pw := usage[it.Person]
				pw.Person, pw.Week = it.Person, week
				pw.Add(it.Quantity, weekend)
				if err := tx.PutPersonWeek(pw); err != nil {
					return err
				}
			}
			at := t0.Add(time.Duration(n) * time.Minute)
			return tx.InsertSale(&publicmask.Sale{ID: id, Outlet: "00000001", TxnID: "txn-" + id, SoldAt: at, RecordedAt: at,
				Week: week, Weekend: weekend, Quantity: total, Items: items})
		})
		for _, it := range items {
			u := want[week][it.Person]
			u.Add(it.Quantity, weekend)
			want[week][it.Person] = u
		}
		return id
	}
	check := func(when string) {
		t.Helper()
		for _, week := range []string{w1, w2} {
			keys := []string{"aaaa", "bbbb", "cccc", "zzzz"}
			m, err := s.PersonWeeks(ctx, week, keys)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]publicmask.Usage{}
			for p, pw := range m {
				got[p] = pw.Usage
			}
			if !maps.Equal(got, want[week]) {
				t.Fatalf("%s: PersonWeeks %s = %v, want %v", when, week, got, want[week])
			}
		}
		all := func(r func(string, func(publicmask.PersonWeek) error) error) map[string]map[string]publicmask.Usage {
			got := map[string]map[string]publicmask.Usage{w1: {}, w2: {}}
			if err := r(w1, func(pw publicmask.PersonWeek) error {
				got[pw.Week][pw.Person] = pw.Usage
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return got
		}
		eq := func(a, b map[string]map[string]publicmask.Usage) bool {
			return maps.EqualFunc(a, b, func(x, y map[string]publicmask.Usage) bool { return maps.Equal(x, y) })
		}
		if got := all(func(w string, fn func(publicmask.PersonWeek) error) error { return s.PersonWeeksSince(ctx, w, fn) }); !eq(got, want) {
			t.Fatalf("%s: PersonWeeksSince = %v, want %v", when, got, want)
		}
		if got := all(func(w string, fn func(publicmask.PersonWeek) error) error {
			return s.Audit(ctx, func(r publicmask.AuditReader) error { return r.PersonWeeksSince(ctx, w, fn) })
		}); !eq(got, want) {
			t.Fatalf("%s: the audit's PersonWeeksSince = %v, want %v", when, got, want)
		}
	}
	buyer := func(p string, q int) publicmask.SaleItem {
		return publicmask.SaleItem{Role: "buyer", Person: p, BirthYear: 1983, Quantity: q}
	}
	proxy := func(p string, q int) publicmask.SaleItem {
		return publicmask.SaleItem{Role: "proxy", Person: p, Category: "child", BirthYear: 2015, Quantity: q}
	}
	sell(w1, false, buyer("aaaa", 1))
	check("after one sale")
	first := sell(w1, true, buyer("bbbb", 1), proxy("cccc", 2))
	sell(w1, false, buyer("aaaa", 1))
	sell(w2, false, buyer("aaaa", 2))
	check("after four sales")
	// The cancellation of a recent sale, as ledger.cancelSale does it.
	write(t, s, func(tx publicmask.Tx) error {
		x, err := tx.Sale(first)
		if err != nil {
			return err
		}
		usage, err := tx.PersonWeeks(x.Week, []string{"bbbb", "cccc"})
		if err != nil {
			return err
		}
		for _, it := range x.Items {
			pw := usage[it.Person]
			pw.Remove(it.Quantity, x.Weekend)
			if err := tx.PutPersonWeek(pw); err != nil {
				return err
			}
		}
		return tx.MarkSaleCancelled(first, t0.Add(time.Hour))
	})
	want[w1]["bbbb"], want[w1]["cccc"] = publicmask.Usage{}, publicmask.Usage{}
	check("after a cancellation")
	sell(w2, true, buyer("bbbb", 1))
	sell(w1, false, buyer("cccc", 1)) // a late sale in the older week
	check("after sales in both weeks")
	if _, err := s.Purge(ctx, w2); err != nil {
		t.Fatal(err)
	}
	want[w1] = map[string]publicmask.Usage{}
	check("after the purge of the first week")
	sell(w2, false, buyer("aaaa", 1))
	check("after a sale past the purge")
}
