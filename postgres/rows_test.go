package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/publicmask/publicmask"
)

// TestPersonWeekRowsWrittenInLockOrder: whatever order a batch's sales
// wrote them in, new and updated person-week rows go out in (week, person)
// order, the order rows are locked in, so two transactions inserting some
// of the same new rows meet on the first shared one (the loser fails at once
// on the primary key) instead of each holding one the other waits for.
func TestPersonWeekRowsWrittenInLockOrder(t *testing.T) {
	var r rowBuffer
	for _, k := range []struct {
		week, person string
		insert       bool
	}{
		{"2020-03-16", "b", true}, {"2020-03-09", "c", true}, {"2020-03-09", "a", true},
		{"2020-03-09", "z", false}, {"2020-03-02", "y", false}, {"2020-03-09", "c", true}, // written twice: one row
	} {
		r.putPW(publicmask.PersonWeek{Person: k.person, Week: k.week}, k.insert)
	}
	var b pgx.Batch
	r.flush(&b)
	want := map[string][]string{
		sqlPWsInsert: {"2020-03-09/a", "2020-03-09/c", "2020-03-16/b"},
		sqlPWsUpsert: {"2020-03-02/y", "2020-03-09/z"},
	}
	for _, q := range b.QueuedQueries {
		w, ok := want[q.SQL]
		if !ok {
			continue
		}
		persons, weeks := q.Arguments[0].([]string), q.Arguments[1].([]string)
		var got []string
		for i := range persons {
			got = append(got, weeks[i]+"/"+persons[i])
		}
		if !slices.Equal(got, w) {
			t.Errorf("rows %v, want %v", got, w)
		}
		delete(want, q.SQL)
	}
	if len(want) > 0 {
		t.Errorf("statements not queued: %v", want)
	}
}

// TestSalesSeqFollowsInsertOrder: sales.seq, which verify walks to replay one
// person's sales in the order they were judged, follows the order of
// InsertSale calls within one multi-row statement (IDs deliberately out of
// order).
func TestSalesSeqFollowsInsertOrder(t *testing.T) {
	s := openTest(t, Options{})
	seedOutlets(t, s, "A")
	ctx := context.Background()
	at := time.Date(2020, 3, 11, 1, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 200 {
		ids = append(ids, fmt.Sprintf("s%03d", (i*37)%200))
	}
	err := s.Write(ctx, func(tx publicmask.Tx) error {
		for i, id := range ids {
			if err := tx.InsertSale(&publicmask.Sale{ID: id, Outlet: "A", TxnID: fmt.Sprintf("t%d", i), SoldAt: at, RecordedAt: at, Week: "2020-03-09", Quantity: 1,
				Items: []publicmask.SaleItem{{Role: "buyer", Person: "p", Category: "adult", BirthYear: 1983, Quantity: 1}}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := s.SalesSince(ctx, time.Time{}, func(s publicmask.Sale) error { got = append(got, s.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("sales in seq order %v\nwant the insertion order %v", got, ids)
	}
}
