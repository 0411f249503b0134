package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

var errInjected = errors.New("injected failure")

// hexKey is a person key shaped like rrn.Keyer's (32 hex digits).
func hexKey(i int) string {
	h := sha256.Sum256([]byte(fmt.Sprint(i)))
	return hex.EncodeToString(h[:16])
}

// dbOutlet and dbWeek read the database itself, bypassing the copy.
func dbOutlet(t *testing.T, s *Store, code string) publicmask.Outlet {
	t.Helper()
	o, err := scanOutlet(s.reader.QueryRow(`SELECT `+outletCols+` FROM `+outletFrom+` WHERE o.code = ?`, code))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func dbWeek(t *testing.T, s *Store, week string) map[string]publicmask.PersonWeek {
	t.Helper()
	out := map[string]publicmask.PersonWeek{}
	rows, err := s.reader.Query(`SELECT person, quantity, purchases, weekday_purchases, weekend_purchases FROM person_weeks WHERE week = ?`, week)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		pw := publicmask.PersonWeek{Week: week}
		if err := rows.Scan(&pw.Person, &pw.Quantity, &pw.Purchases, &pw.WeekdayPurchases, &pw.WeekendPurchases); err != nil {
			t.Fatal(err)
		}
		out[pw.Person] = pw
	}
	return out
}

// sameAsDB checks that what a sale reads (inside a transaction) and what a
// check reads (outside) equal the database's rows, for every outlet and
// every person of the given weeks (absent rows included).
func sameAsDB(t *testing.T, s *Store, codes []string, weeks []string, persons []string) {
	t.Helper()
	ctx := context.Background()
	err := s.Write(ctx, func(tx publicmask.Tx) error {
		for _, c := range codes {
			want := dbOutlet(t, s, c)
			got, err := tx.LockOutlet(c)
			if err != nil {
				return err
			}
			if got != want {
				t.Errorf("outlet %s in a transaction: %+v, database %+v", c, got, want)
			}
			if got, err := s.Outlet(ctx, c); err != nil || got != want {
				t.Errorf("outlet %s for a check: %+v %v, database %+v", c, got, err, want)
			}
		}
		for _, w := range weeks {
			want := dbWeek(t, s, w)
			inTx, err := tx.PersonWeeks(w, persons)
			if err != nil {
				return err
			}
			outside, err := s.PersonWeeks(ctx, w, persons)
			if err != nil {
				return err
			}
			for _, p := range persons {
				d, ok := want[p]
				if g, gok := inTx[p]; gok != ok || g != d {
					t.Errorf("person-week %s %s in a transaction: %+v (%v), database %+v (%v)", p[:6], w, g, gok, d, ok)
				}
				if g, gok := outside[p]; gok != ok || g != d {
					t.Errorf("person-week %s %s for a check: %+v (%v), database %+v (%v)", p[:6], w, g, gok, d, ok)
				}
			}
		}
		return errInjected // read only
	})
	if !errors.Is(err, errInjected) {
		t.Fatal(err)
	}
}

// TestHotStateFollowsTheStore: whatever fails — the transaction's own work
// or its commit — the writer's copy never holds a row the database does
// not, and after every step a sale and a check read exactly the database's
// rows. Random transactions change outlets and person-weeks (in several
// weeks, beyond the number held; with filters rebuilt mid-transaction) and
// then succeed, fail in fn, or fail at the commit.
func TestHotStateFollowsTheStore(t *testing.T) {
	for _, bits := range []uint64{filterMinBits, 64} {
		t.Run(fmt.Sprintf("filter of %d bits", bits), func(t *testing.T) {
			defer func(old uint64) { filterMinBits = old }(filterMinBits)
			filterMinBits = bits // 64: full after 8 keys, rebuilt again and again
			testHotState(t)
		})
	}
}

func testHotState(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	codes := []string{"10000001", "10000002", "10000003"}
	weeks := []string{"2020-03-02", "2020-03-09", "2020-03-16", "2020-03-23"} // one more than maxHotWeeks
	var persons []string
	for i := range 24 {
		persons = append(persons, hexKey(i))
	}
	persons = append(persons, "not-a-hex-key")
	err := s.Write(ctx, func(tx publicmask.Tx) error {
		for _, c := range codes {
			o := &publicmask.Outlet{Code: c, Name: "약국 " + c, Addr: "서울특별시 중구", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127, Stock: 100}
			if err := tx.SaveOutlet(o); err != nil {
				return err
			}
		}
		return tx.PutPersonWeek(publicmask.PersonWeek{Person: persons[0], Week: weeks[1], Usage: publicmask.Usage{Quantity: 1, Purchases: 1, WeekdayPurchases: 1}})
	})
	if err != nil {
		t.Fatal(err)
	}
	sameAsDB(t, s, codes, weeks, persons)

	rng := rand.New(rand.NewPCG(2020, 3))
	outcomes := map[string]int{}
	// model: the quantities that committed transactions wrote.
	model := map[pwKey]int{{persons[0], weeks[1]}: 1}
	for step := range 300 {
		mode := []string{"ok", "ok", "fn", "commit"}[rng.IntN(4)]
		if mode == "commit" {
			s.failCommit = func() error { return errInjected }
		}
		var added map[pwKey]int
		var w, p string
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			added = map[pwKey]int{}
			for range 1 + rng.IntN(6) {
				c := codes[rng.IntN(len(codes))]
				o, err := tx.LockOutlet(c)
				if err != nil {
					return err
				}
				o.Stock += rng.IntN(7) - 3
				o.Suspended = rng.IntN(5) == 0
				o.UpdatedAt = time.Date(2020, 3, 11, 8, 0, 0, step*1001, time.Local) // not whole microseconds
				if err := tx.SaveOutlet(&o); err != nil {
					return err
				}
				if w == "" || rng.IntN(2) == 0 { // else the same person again
					w, p = weeks[rng.IntN(len(weeks))], persons[rng.IntN(len(persons))]
				}
				got, err := tx.PersonWeeks(w, []string{p})
				if err != nil {
					return err
				}
				pw := got[p]
				pw.Person, pw.Week = p, w
				q := 1 + rng.IntN(2)
				pw.Quantity += q
				added[pwKey{p, w}] += q
				pw.Purchases++
				pw.WeekdayPurchases++
				if err := tx.PutPersonWeek(pw); err != nil {
					return err
				}
			}
			if mode == "fn" {
				return errInjected
			}
			return nil
		})
		s.failCommit = nil
		if (mode == "ok") != (err == nil) {
			t.Fatalf("step %d (%s): %v", step, mode, err)
		}
		if err == nil {
			for k, q := range added {
				model[k] += q
			}
		}
		for _, w := range weeks {
			rows := dbWeek(t, s, w)
			for _, p := range persons {
				if got, want := rows[p].Quantity, model[pwKey{p, w}]; got != want {
					t.Fatalf("step %d (%s): %s %s has %d masks, committed transactions wrote %d", step, mode, p[:6], w, got, want)
				}
			}
		}
		outcomes[mode]++
		if step%10 == 0 || mode != "ok" {
			sameAsDB(t, s, codes, weeks, persons)
			if t.Failed() {
				t.Fatalf("diverged at step %d after %s", step, mode)
			}
		}
	}
	sameAsDB(t, s, codes, weeks, persons)
	t.Logf("transactions: %v", outcomes)
}

// TestHotStateDroppedAfterAFailedCommit: a failed commit drops the copy
// (the database's state is in doubt), and the next transaction loads the
// rows again.
func TestHotStateDroppedAfterAFailedCommit(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	p := hexKey(1)
	write := func(stock, qty int) error {
		return s.Write(ctx, func(tx publicmask.Tx) error {
			o := &publicmask.Outlet{Code: "10000001", Name: "약국", Addr: "서울특별시 중구", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127, Stock: stock}
			if err := tx.SaveOutlet(o); err != nil {
				return err
			}
			if _, err := tx.PersonWeeks("2020-03-09", []string{p}); err != nil {
				return err
			}
			return tx.PutPersonWeek(publicmask.PersonWeek{Person: p, Week: "2020-03-09", Usage: publicmask.Usage{Quantity: qty, Purchases: 1, WeekdayPurchases: 1}})
		})
	}
	if err := write(10, 1); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.hot.outlet("10000001"); ok {
		t.Fatal("an inserted outlet went into the copy before any use")
	}
	if err := s.Write(ctx, func(tx publicmask.Tx) error { _, err := tx.LockOutlet("10000001"); return err }); err != nil {
		t.Fatal(err)
	}
	if o, ok := s.hot.outlet("10000001"); !ok || o.Stock != 10 || s.hot.week("2020-03-09") == nil {
		t.Fatalf("after a commit the copy holds the rows: %+v %v", o, ok)
	}
	s.failCommit = func() error { return errInjected }
	err := write(3, 2)
	s.failCommit = nil
	if publicmask.ErrorCode(err) != publicmask.EStoreUnavailable {
		t.Fatalf("failed commit: %v", err)
	}
	if _, ok := s.hot.outlet("10000001"); ok || s.hot.week("2020-03-09") != nil {
		t.Fatal("the copy survived a failed commit")
	}
	got, err := s.PersonWeeks(ctx, "2020-03-09", []string{p})
	if err != nil || got[p].Quantity != 1 {
		t.Fatalf("check after the failed commit: %+v %v", got, err)
	}
	if o, err := s.Outlet(ctx, "10000001"); err != nil || o.Stock != 10 {
		t.Fatalf("outlet after the failed commit: %+v %v", o, err)
	}
	sameAsDB(t, s, []string{"10000001"}, []string{"2020-03-09"}, []string{p})
}

// A week's filter never misses a key that was added, and rarely says
// "maybe" for one that was not.
func TestWeekFilter(t *testing.T) {
	const n = 100_000
	f := newWeekFilter(n)
	for i := range n {
		f.add(hexKey(i))
	}
	for i := range n {
		if !f.mayHave(hexKey(i)) {
			t.Fatalf("key %d added but missed", i)
		}
	}
	maybe := 0
	for i := n; i < 2*n; i++ {
		if f.mayHave(hexKey(i)) {
			maybe++
		}
	}
	if maybe > n/100 {
		t.Fatalf("%d of %d absent keys are a maybe", maybe, n)
	}
	if f.stale {
		t.Fatal("a filter built for n keys is full after n")
	}
	t.Logf("false maybe: %d of %d; %d KiB", maybe, n, len(f.bits)*8/1024)
}

// A past week (more than a week before one held) gets no filter: a cancel
// of an old sale reads its persons directly, and the week being sold in
// stays held.
func TestPastWeekReadDirectly(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	p := hexKey(7)
	err := s.Write(ctx, func(tx publicmask.Tx) error {
		return tx.PutPersonWeek(publicmask.PersonWeek{Person: p, Week: "2020-03-02", Usage: publicmask.Usage{Quantity: 2, Purchases: 1, WeekdayPurchases: 1}})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Write(ctx, func(tx publicmask.Tx) error {
		if _, err := tx.PersonWeeks("2020-03-16", []string{p}); err != nil {
			return err
		}
		got, err := tx.PersonWeeks("2020-03-02", []string{p, hexKey(8)})
		if err != nil {
			return err
		}
		if len(got) != 1 || got[p].Quantity != 2 {
			return fmt.Errorf("past week read: %+v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.hot.week("2020-03-02") != nil || s.hot.week("2020-03-16") == nil {
		t.Fatal("a past week was given a filter, or the current one lost its own")
	}
	if got, err := s.PersonWeeks(ctx, "2020-03-02", []string{p}); err != nil || got[p].Quantity != 2 {
		t.Fatalf("check on a past week: %+v %v", got, err)
	}
}

// TestSalesWhileAWeekIsBuilt: on a store reopened mid-week, the week's
// filter is built in the background from a snapshot; a sale is answered
// while the build waits (every person is then read), and the rows written
// during the build — after its snapshot — are in the filter it installs.
func TestSalesWhileAWeekIsBuilt(t *testing.T) {
	ctx := context.Background()
	const week = "2020-03-09"
	path := filepath.Join(t.TempDir(), "pm.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	const before = 200
	err = s.Write(ctx, func(tx publicmask.Tx) error {
		for i := range before {
			if err := tx.PutPersonWeek(publicmask.PersonWeek{Person: hexKey(i), Week: week, Usage: publicmask.Usage{Quantity: 2, Purchases: 1, WeekdayPurchases: 1}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	inScan, release := make(chan struct{}), make(chan struct{})
	buildHook = func(string) { close(inScan); <-release }
	defer func() { buildHook = nil }()
	s, err = Open(ctx, path) // starts the week's build, which waits after its snapshot
	if err != nil {
		t.Fatal(err)
	}
	released := false
	defer func() {
		if !released {
			close(release)
		}
		s.Close()
	}()
	<-inScan

	// Sales during the build: a person with a row and one without are
	// told apart (read), and new rows are written after the snapshot.
	var during []string
	for i := range 50 {
		p, known := hexKey(before+i), hexKey(i)
		during = append(during, p)
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			got, err := tx.PersonWeeks(week, []string{known, p})
			if err != nil {
				return err
			}
			if got[known].Quantity != 2 || len(got) != 1 {
				return fmt.Errorf("during the build: %+v", got)
			}
			return tx.PutPersonWeek(publicmask.PersonWeek{Person: p, Week: week, Usage: publicmask.Usage{Quantity: 1, Purchases: 1, WeekdayPurchases: 1}})
		})
		if err != nil {
			t.Fatalf("sale %d while the week's filter is built: %v", i, err)
		}
	}
	if f := s.hot.week(week); f == nil || f.bits != nil {
		t.Fatal("the build finished before it was released")
	}
	if got, err := s.PersonWeeks(ctx, week, during[:1]); err != nil || got[during[0]].Quantity != 1 {
		t.Fatalf("check during the build: %+v %v", got, err)
	}

	close(release)
	released = true
	deadline := time.Now().Add(10 * time.Second)
	var f *weekFilter
	for {
		if f = s.hot.week(week); f != nil && f.bits != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the week's filter was not installed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.hot.mu.RLock()
	for i := range before + len(during) {
		if !f.mayHave(hexKey(i)) {
			t.Errorf("person %d has a row but the built filter misses it (written during the build: %v)", i, i >= before)
		}
	}
	s.hot.mu.RUnlock()
	var persons []string
	for i := range before + len(during) + 20 {
		persons = append(persons, hexKey(i))
	}
	sameAsDB(t, s, nil, []string{week}, persons)
}

// TestBuildDroppedWithTheCopy: a build that ends after a failed commit
// dropped the copy installs nothing; the next sale starts another.
func TestBuildDroppedWithTheCopy(t *testing.T) {
	ctx := context.Background()
	const week = "2020-03-09"
	s := openTest(t)
	inScan, release := make(chan struct{}), make(chan struct{})
	buildHook = func(string) { close(inScan); <-release }
	defer func() { buildHook = nil }()
	p := hexKey(1)
	sell := func() error {
		return s.Write(ctx, func(tx publicmask.Tx) error {
			if _, err := tx.PersonWeeks(week, []string{p}); err != nil {
				return err
			}
			return tx.PutPersonWeek(publicmask.PersonWeek{Person: p, Week: week, Usage: publicmask.Usage{Quantity: 1, Purchases: 1, WeekdayPurchases: 1}})
		})
	}
	s.failCommit = func() error { return errInjected }
	if err := sell(); err == nil {
		t.Fatal("commit did not fail")
	}
	s.failCommit = nil
	<-inScan
	buildHook = nil
	close(release)
	if err := sell(); err != nil { // registers a new build
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if f := s.hot.week(week); f != nil && f.bits != nil {
			if !f.mayHave(p) {
				t.Fatal("the filter misses a committed row")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no filter installed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	sameAsDB(t, s, nil, []string{week}, []string{p, hexKey(2)})
}
