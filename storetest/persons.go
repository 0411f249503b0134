package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

func testPersonWeeks(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	a := publicmask.PersonWeek{Person: "aaaa", Week: "2020-03-09", Usage: publicmask.Usage{Quantity: 2, Purchases: 1, WeekdayPurchases: 1}}
	write(t, s, func(tx publicmask.Tx) error {
		if err := tx.PutPersonWeek(a); err != nil {
			return err
		}
		b := a
		b.Week = "2020-03-16"
		b.Quantity = 1
		return tx.PutPersonWeek(b)
	})
	a.Quantity, a.Purchases, a.WeekendPurchases = 3, 2, 1
	write(t, s, func(tx publicmask.Tx) error {
		if err := tx.PutPersonWeek(a); err != nil { // upsert
			return err
		}
		m, err := tx.PersonWeeks("2020-03-09", []string{"aaaa", "bbbb"})
		if err != nil {
			return err
		}
		if len(m) != 1 || m["aaaa"] != a {
			return fmt.Errorf("PersonWeeks in tx = %+v", m)
		}
		return nil
	})
	m, err := s.PersonWeeks(ctx, "2020-03-16", []string{"aaaa"})
	if err != nil || m["aaaa"].Quantity != 1 {
		t.Fatalf("PersonWeeks = %+v, %v", m, err)
	}
	var weeks []string
	if err := s.PersonWeeksSince(ctx, "2020-03-10", func(pw publicmask.PersonWeek) error {
		weeks = append(weeks, pw.Week)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(weeks, []string{"2020-03-16"}) {
		t.Fatalf("PersonWeeksSince = %v", weeks)
	}
}

func testPurge(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000001")
	old := sale("old", "00000001", t0, 2, "aaaa")
	cur := sale("cur", "00000001", t0.AddDate(0, 0, 21), 2, "aaaa")
	cur.Week = "2020-03-30"
	write(t, s, func(tx publicmask.Tx) error {
		for _, pw := range []publicmask.PersonWeek{{Person: "aaaa", Week: "2020-03-09", Usage: publicmask.Usage{Quantity: 2, Purchases: 1}}, {Person: "aaaa", Week: "2020-03-30", Usage: publicmask.Usage{Quantity: 2, Purchases: 1}}} {
			if err := tx.PutPersonWeek(pw); err != nil {
				return err
			}
		}
		if err := tx.InsertSale(old); err != nil {
			return err
		}
		return tx.InsertSale(cur)
	})
	n, err := s.Purge(ctx, "2020-03-16")
	if err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v; want 1 row", n, err)
	}
	m, _ := s.PersonWeeks(ctx, "2020-03-09", []string{"aaaa"})
	if len(m) != 0 {
		t.Fatal("old person week survived the purge")
	}
	m, _ = s.PersonWeeks(ctx, "2020-03-30", []string{"aaaa"})
	if len(m) != 1 {
		t.Fatal("current person week purged")
	}
	var persons []string
	var qty int
	s.SalesSince(ctx, time.Time{}, func(x publicmask.Sale) error {
		persons = append(persons, x.Items[0].Person)
		qty += x.Quantity
		return nil
	})
	if !slices.Equal(persons, []string{"", "aaaa"}) || qty != 4 {
		t.Fatalf("after purge persons=%q qty=%d; want the old sale anonymised, quantities kept", persons, qty)
	}
}

// testPurgeMany purges more person-weeks than one purge chunk holds: every
// chunk runs, and the count adds up.
func testPurgeMany(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	const n = 11_000
	write(t, s, func(tx publicmask.Tx) error {
		for i := range n {
			if err := tx.PutPersonWeek(publicmask.PersonWeek{Person: fmt.Sprintf("p%06d", i), Week: "2020-03-09", Usage: publicmask.Usage{Quantity: 1, Purchases: 1}}); err != nil {
				return err
			}
		}
		return tx.PutPersonWeek(publicmask.PersonWeek{Person: "keep", Week: "2020-03-30", Usage: publicmask.Usage{Quantity: 1, Purchases: 1}})
	})
	got, err := s.Purge(ctx, "2020-03-16")
	if err != nil || got != n {
		t.Fatalf("Purge = %d, %v; want %d", got, err, n)
	}
	left := 0
	if err := s.PersonWeeksSince(ctx, "", func(pw publicmask.PersonWeek) error { left++; return nil }); err != nil {
		t.Fatal(err)
	}
	if left != 1 {
		t.Fatalf("%d person-weeks left, want only the current one", left)
	}
}
