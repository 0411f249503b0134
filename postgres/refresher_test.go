package postgres

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/snapshot"
)

// countingSource counts the outlet rows the refresher's polls read and
// passes on whether the feed is ordered.
type countingSource struct {
	snapshot.Source
	ordered bool
	rows    atomic.Int64
}

func (c *countingSource) OrderedChanges() bool { return c.ordered }

func (c *countingSource) OutletChanges(ctx context.Context, after int64, limit int) ([]publicmask.Outlet, error) {
	ch, err := c.Source.OutletChanges(ctx, after, limit)
	c.rows.Add(int64(len(ch)))
	return ch, err
}

func stockOf(t *testing.T, r *snapshot.Refresher, code string) int {
	t.Helper()
	if err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	e, ok := r.Current().Lookup(code)
	if !ok {
		t.Fatalf("outlet %s not in the snapshot", code)
	}
	return e.Stock
}

// TestRefresherLateCommit runs a public node's refresher over the store
// with two transactions that commit in the other order than they began: T1
// changes A and stays open, T2 changes B and commits, the refresher polls,
// then T1 commits. The store declares its feed ordered, so the refresher
// reads only above its watermark (no late-commit window, though the window
// is set to an hour here) and must still deliver T1's change.
//
// The control runs the same interleaving over a feed whose versions come
// from a sequence (taken when the row is written, as a naive feed would):
// there T1 commits the lower version after the refresher has passed it.
// Declared unordered, the refresher's window re-reads it and delivers it;
// declared ordered, the refresher misses it — so the stamp at commit
// (tx.go), not the window, is what makes the store's declaration true.
func TestRefresherLateCommit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := openTest(t, Options{})
	if !s.OrderedChanges() {
		t.Fatal("the PostgreSQL store does not declare its feed ordered")
	}

	t.Run("Stamped", func(t *testing.T) {
		seedOutlets(t, s, "A", "B")
		src := &countingSource{Source: s, ordered: s.OrderedChanges()}
		r := snapshot.NewRefresher(src, snapshot.Options{LateCommitWindow: time.Hour})
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		inside, release := make(chan struct{}), make(chan struct{})
		var a, b publicmask.Outlet
		done := make(chan error, 1)
		go func() {
			done <- setStock(ctx, s, "A", 11, &a, func() {
				close(inside)
				<-release
			})
		}()
		<-inside
		if err := setStock(ctx, s, "B", 22, &b, nil); err != nil {
			t.Fatal(err)
		}
		src.rows.Store(0)
		if err := r.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		if n := src.rows.Load(); n != 1 {
			t.Errorf("poll after B read %d rows, want 1", n)
		}
		if got := stockOf(t, r, "B"); got != 22 {
			t.Fatalf("B stock %d, want 22", got)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		src.rows.Store(0)
		if err := r.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		if n := src.rows.Load(); n != 1 {
			t.Errorf("poll after A read %d rows, want 1 (only what it had not seen)", n)
		}
		if got := stockOf(t, r, "A"); got != 11 {
			t.Fatalf("refresher skipped the late commit: A stock %d, want 11 (A@%d, B@%d)", got, a.Version, b.Version)
		}
	})

	for _, claim := range []bool{false, true} {
		name := "SequenceUnordered"
		if claim {
			name = "SequenceClaimedOrdered"
		}
		t.Run(name, func(t *testing.T) {
			table := "seq_feed_" + map[bool]string{false: "u", true: "o"}[claim]
			if _, err := s.pool.Exec(ctx, `CREATE TABLE `+table+` (v BIGSERIAL PRIMARY KEY, code TEXT NOT NULL, stock INT NOT NULL)`); err != nil {
				t.Fatal(err)
			}
			if _, err := s.pool.Exec(ctx, `INSERT INTO `+table+` (code, stock) VALUES ('A', 0), ('B', 0)`); err != nil {
				t.Fatal(err)
			}
			src := &countingSource{Source: seqFeed{s, table}, ordered: claim}
			r := snapshot.NewRefresher(src, snapshot.Options{LateCommitWindow: time.Hour})
			if err := r.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t1, err := s.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer t1.Rollback(ctx)
			if _, err := t1.Exec(ctx, `INSERT INTO `+table+` (code, stock) VALUES ('A', 11)`); err != nil {
				t.Fatal(err)
			}
			if _, err := s.pool.Exec(ctx, `INSERT INTO `+table+` (code, stock) VALUES ('B', 22)`); err != nil {
				t.Fatal(err)
			}
			if err := r.Poll(ctx); err != nil {
				t.Fatal(err)
			}
			if got := stockOf(t, r, "B"); got != 22 {
				t.Fatalf("B stock %d, want 22", got)
			}
			if err := t1.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := r.Poll(ctx); err != nil {
				t.Fatal(err)
			}
			got := stockOf(t, r, "A")
			if claim && got != 0 {
				t.Fatalf("control: a refresher without its window should have missed the late commit, has A stock %d", got)
			}
			if !claim && got != 11 {
				t.Fatalf("refresher skipped the late commit of a lower version: A stock %d, want 11", got)
			}
		})
	}
}

// seqFeed is a change feed whose versions come from a sequence: a log of
// (version, code, stock), the newest row of a code being its state.
type seqFeed struct {
	s     *Store
	table string
}

func (f seqFeed) Outlets(ctx context.Context) ([]publicmask.Outlet, int64, error) {
	out, err := f.query(ctx, `SELECT DISTINCT ON (code) v, code, stock FROM `+f.table+` ORDER BY code, v DESC`)
	var version int64
	for _, o := range out {
		version = max(version, o.Version)
	}
	return out, version, err
}

func (f seqFeed) OutletChanges(ctx context.Context, after int64, limit int) ([]publicmask.Outlet, error) {
	return f.query(ctx, `SELECT v, code, stock FROM `+f.table+` WHERE v > $1 ORDER BY v LIMIT $2`, after, limit)
}

func (f seqFeed) query(ctx context.Context, q string, args ...any) ([]publicmask.Outlet, error) {
	rows, err := f.s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []publicmask.Outlet
	for rows.Next() {
		var v int64
		var code string
		var stock int
		if err := rows.Scan(&v, &code, &stock); err != nil {
			return nil, err
		}
		o := testOutlet(code)
		o.Version, o.Stock = v, stock
		out = append(out, o)
	}
	return out, rows.Err()
}
