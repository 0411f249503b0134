package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// follower follows OutletChanges by watermark, as a public node does.
type follower struct {
	s         publicmask.Store
	watermark int64
	state     map[string]publicmask.Outlet
	limit     int
}

func newFollower(s publicmask.Store, limit int) *follower {
	return &follower{s: s, state: make(map[string]publicmask.Outlet), limit: limit}
}

// poll reads every change above the watermark and applies it; it fails if
// versions go backwards, within a page or for an outlet.
func (f *follower) poll(ctx context.Context) error {
	for {
		ch, err := f.s.OutletChanges(ctx, f.watermark, f.limit)
		if err != nil {
			return err
		}
		for _, o := range ch {
			if o.Version <= f.watermark {
				return fmt.Errorf("change %s@%d not above watermark %d", o.Code, o.Version, f.watermark)
			}
			if prev, ok := f.state[o.Code]; ok && o.Version <= prev.Version {
				return fmt.Errorf("outlet %s went back from version %d to %d", o.Code, prev.Version, o.Version)
			}
			f.watermark = o.Version
			f.state[o.Code] = o
		}
		if len(ch) < f.limit {
			return nil
		}
	}
}

// TestLateCommitNotSkipped forces the interleavings that make a sequence-
// based feed skip a commit, and shows that a follower of this store sees
// every commit.
func TestLateCommitNotSkipped(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	seedOutlets(t, s, "A", "B")
	f := newFollower(s, 100)
	if err := f.poll(ctx); err != nil {
		t.Fatal(err)
	}

	// Control: with a sequence, the hazard is real. T1 takes 1, T2 takes 2
	// and commits; a follower moves its watermark to 2; T1 then commits 1,
	// which a "version > 2" follower never reads.
	t.Run("SequenceSkips", func(t *testing.T) {
		pool := s.pool
		if _, err := pool.Exec(ctx, `CREATE TABLE seq_demo (v BIGSERIAL PRIMARY KEY, what TEXT)`); err != nil {
			t.Fatal(err)
		}
		t1, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer t1.Rollback(ctx)
		if _, err := t1.Exec(ctx, `INSERT INTO seq_demo (what) VALUES ('T1')`); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO seq_demo (what) VALUES ('T2')`); err != nil {
			t.Fatal(err)
		}
		var watermark int64
		pool.QueryRow(ctx, `SELECT max(v) FROM seq_demo`).Scan(&watermark)
		if err := t1.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		var missed int
		pool.QueryRow(ctx, `SELECT count(*) FROM seq_demo WHERE v < $1`, watermark).Scan(&missed)
		if watermark != 2 || missed != 1 {
			t.Fatalf("expected the sequence follower to miss T1: watermark %d, missed %d", watermark, missed)
		}
	})

	// T1 changes A and stays open; T2 changes B and commits; the follower
	// reads B; T1 commits. Under a sequence T1 would hold the lower
	// version; here it gets the higher one, and the follower reads it.
	t.Run("OpenTransaction", func(t *testing.T) {
		inside, release := make(chan struct{}), make(chan struct{})
		var a publicmask.Outlet
		done := make(chan error, 1)
		go func() {
			done <- setStock(ctx, s, "A", 11, &a, func() {
				close(inside)
				<-release
			})
		}()
		<-inside
		var b publicmask.Outlet
		if err := setStock(ctx, s, "B", 22, &b, nil); err != nil {
			t.Fatal(err)
		}
		if err := f.poll(ctx); err != nil {
			t.Fatal(err)
		}
		if f.watermark != b.Version {
			t.Fatalf("follower at %d, want B's version %d", f.watermark, b.Version)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if a.Version <= b.Version {
			t.Fatalf("later commit got lower version: A %d, B %d", a.Version, b.Version)
		}
		if err := f.poll(ctx); err != nil {
			t.Fatal(err)
		}
		if got := f.state["A"]; got.Version != a.Version || got.Stock != 11 {
			t.Fatalf("follower skipped the late commit: has A %+v, want version %d", got, a.Version)
		}
	})

	// The narrowest window: T1 has stamped its version but not committed.
	// T2 cannot stamp (and so cannot commit) until T1 has committed, and a
	// follower sees neither meanwhile.
	t.Run("StampedNotCommitted", func(t *testing.T) {
		stamped, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		s.afterStamp = func() {
			once.Do(func() {
				close(stamped)
				<-release
			})
		}
		defer func() { s.afterStamp = nil }()
		var a, b publicmask.Outlet
		done1 := make(chan error, 1)
		go func() { done1 <- setStock(ctx, s, "A", 12, &a, nil) }()
		<-stamped
		before := f.watermark
		done2 := make(chan error, 1)
		go func() { done2 <- setStock(ctx, s, "B", 23, &b, nil) }()
		select {
		case err := <-done2:
			t.Fatalf("T2 committed while T1 held stamped versions: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		if err := f.poll(ctx); err != nil {
			t.Fatal(err)
		}
		if f.watermark != before {
			t.Fatalf("follower saw uncommitted versions: watermark %d → %d", before, f.watermark)
		}
		close(release)
		if err := <-done1; err != nil {
			t.Fatal(err)
		}
		if err := <-done2; err != nil {
			t.Fatal(err)
		}
		if !(before < a.Version && a.Version < b.Version) {
			t.Fatalf("versions not in commit order: before %d, A %d, B %d", before, a.Version, b.Version)
		}
		if err := f.poll(ctx); err != nil {
			t.Fatal(err)
		}
		if f.state["A"].Version != a.Version || f.state["B"].Version != b.Version {
			t.Fatalf("follower has A@%d B@%d, want A@%d B@%d", f.state["A"].Version, f.state["B"].Version, a.Version, b.Version)
		}
	})
}

// TestFeedStress: several writers on two "nodes" (two pools) change random
// outlets in random lock order, with random delays inside the transaction
// and random rollbacks, while a follower polls the feed in small pages. The
// follower must never see a version go backwards and must end with every
// outlet at its final committed state, which it can only do if it skipped no
// commit. Every committed increment is accounted for in the stocks.
func TestFeedStress(t *testing.T) {
	s1 := openTest(t, Options{})
	s2 := openSame(t, s1)
	ctx := context.Background()
	const outlets = 24
	codes := make([]string, outlets)
	for i := range codes {
		codes[i] = fmt.Sprintf("%08d", i)
	}
	seedOutlets(t, s1, codes...)

	writers, perWriter := 8, 60
	if testing.Short() {
		perWriter = 20
	}
	var committed [outlets]atomic.Int64
	var stop atomic.Bool
	followerErr := make(chan error, 1)
	f := newFollower(s1, 7)
	polls := 0
	go func() {
		for !stop.Load() {
			if err := f.poll(ctx); err != nil {
				followerErr <- err
				return
			}
			polls++
		}
		followerErr <- nil
	}()

	errBoom := errors.New("rollback on purpose")
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := s1
			if w%2 == 1 {
				s = s2
			}
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for range perWriter {
				k := 1 + rng.IntN(3)
				pick := rng.Perm(outlets)[:k]
				rollback := rng.IntN(10) == 0
				delay := time.Duration(rng.IntN(3000)) * time.Microsecond
				err := s.Write(ctx, func(tx publicmask.Tx) error {
					for _, i := range pick {
						o, err := tx.LockOutlet(codes[i])
						if err != nil {
							return err
						}
						o.Stock++
						if err := tx.SaveOutlet(&o); err != nil {
							return err
						}
						time.Sleep(delay / time.Duration(k))
					}
					if rollback {
						return errBoom
					}
					return nil
				})
				switch {
				case rollback && errors.Is(err, errBoom):
				case err != nil:
					t.Errorf("write: %v", err)
					return
				default:
					for _, i := range pick {
						committed[i].Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	if err := <-followerErr; err != nil {
		t.Fatal(err)
	}
	if err := f.poll(ctx); err != nil {
		t.Fatal(err)
	}
	final, version, err := s2.Outlets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f.watermark != version {
		t.Fatalf("follower watermark %d, store version %d", f.watermark, version)
	}
	for i, o := range final {
		got := f.state[o.Code]
		if got.Version != o.Version || got.Stock != o.Stock {
			t.Errorf("outlet %s: follower has v%d stock %d, store v%d stock %d", o.Code, got.Version, got.Stock, o.Version, o.Stock)
		}
		if int64(o.Stock) != committed[i].Load() {
			t.Errorf("outlet %s: stock %d, committed increments %d", o.Code, o.Stock, committed[i].Load())
		}
	}
	// Versions have no gaps (a rollback rolls the counter back too): the
	// last version is the number of outlet changes ever committed.
	var changes int64
	for i := range committed {
		changes += committed[i].Load()
	}
	if version != changes+outlets {
		t.Errorf("last version %d, want %d committed changes + %d seeds", version, changes, outlets)
	}
	t.Logf("%d writers × %d transactions, %d retries, %d follower polls, final version %d", writers, perWriter, s1.Retries()+s2.Retries(), polls, version)
}

// setStock sets the stock of outlet code in one transaction and leaves the
// saved outlet in *o; hold, if not nil, runs after the save and before the
// commit, keeping the transaction open.
func setStock(ctx context.Context, s *Store, code string, stock int, o *publicmask.Outlet, hold func()) error {
	return s.Write(ctx, func(tx publicmask.Tx) error {
		var err error
		if *o, err = tx.LockOutlet(code); err != nil {
			return err
		}
		o.Stock = stock
		if err := tx.SaveOutlet(o); err != nil {
			return err
		}
		if hold != nil {
			hold()
		}
		return nil
	})
}
