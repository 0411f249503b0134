package snapshot_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/seed"
	"github.com/publicmask/publicmask/snapshot"
)

// TestImportedSnapshotEqualsTheStore: a ledger on SQLite notifies a
// refresher of its commits while registry imports run in bodies, each
// bracketed by a bulk write as the HTTP handler does (new outlets, then
// re-imports that rename, move and add, then a body that fails after some
// of its chunks committed and one refused before any write). When each
// import returns, the snapshot holds exactly what the store holds: every
// outlet, field for field, and no other.
func TestImportedSnapshotEqualsTheStore(t *testing.T) {
	var ref atomic.Pointer[snapshot.Refresher]
	var commits atomic.Int64
	env := testenv.NewWith(t, testenv.Options{OnCommit: func(ch []publicmask.Outlet) {
		commits.Add(1)
		ref.Load().Notify(ch)
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := snapshot.NewRefresher(env.Store, snapshot.Options{Clock: env.Clock.Now})
	ref.Store(r)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	all := seed.Outlets(seed.Options{Seed: 19, Count: 20_000})
	rng := rand.New(rand.NewPCG(19, 3))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	imp := func(ictx context.Context, body []publicmask.Outlet) error {
		done := r.Bulk()
		_, err := env.Ledger.ImportOutlets(ictx, body)
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		defer scancel()
		if derr := done(sctx); derr != nil {
			t.Fatal(derr)
		}
		return err
	}
	same := func(when string) {
		t.Helper()
		want, _, err := env.Store.Outlets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s := r.Current()
		if s.Len() != len(want) {
			t.Fatalf("%s: %d outlets in the snapshot, %d in the store", when, s.Len(), len(want))
		}
		for _, o := range want {
			e, ok := s.Lookup(o.Code)
			if !ok {
				t.Fatalf("%s: outlet %s missing from the snapshot", when, o.Code)
			}
			g := e.Outlet()
			if g.Name != o.Name || g.Addr != o.Addr || g.Type != o.Type || g.Lat != o.Lat || g.Lng != o.Lng ||
				g.Stock != o.Stock || g.Suspended != o.Suspended || g.Sold != o.Sold || g.Version != o.Version ||
				!g.StockAt.Equal(o.StockAt) || !g.UpdatedAt.Equal(o.UpdatedAt) || e.Place() != snapshot.ParseAddress(o.Addr) {
				t.Fatalf("%s: outlet %s\nsnapshot %+v\nstore    %+v", when, o.Code, g, o)
			}
		}
	}
	// New outlets, in bodies of 3,000 (two chunks each).
	for lo := 0; lo < 9000; lo += 3000 {
		if err := imp(ctx, all[lo:lo+3000]); err != nil {
			t.Fatal(err)
		}
		same("after a body of new outlets")
	}
	// Re-imports: a third renamed, a third moved to another outlet's
	// address and place, the rest as they were, with 1,000 new ones.
	body := append([]publicmask.Outlet(nil), all[:4000]...)
	for i := range body {
		switch i % 3 {
		case 0:
			body[i].Name += " 새이름"
		case 1:
			o := all[rng.IntN(9000)]
			body[i].Addr, body[i].Lat, body[i].Lng = o.Addr, o.Lat, o.Lng
		}
	}
	body = append(body, all[9000:10_000]...)
	if err := imp(ctx, body); err != nil {
		t.Fatal(err)
	}
	same("after a re-import")
	// A body that fails after its first chunk committed: what committed is
	// visible, nothing else.
	fctx, fcancel := context.WithCancel(ctx)
	before := commits.Load()
	go func() {
		for commits.Load() == before {
			time.Sleep(time.Millisecond)
		}
		fcancel()
	}()
	err := imp(fctx, all[10_000:20_000])
	fcancel()
	if err == nil {
		t.Fatal("the body finished before its cancel")
	}
	same("after a failed body")
	// A body refused before any write.
	bad := append([]publicmask.Outlet(nil), all[10_000:20_000]...)
	bad[len(bad)-1].Type = "99"
	if err := imp(ctx, bad); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("an invalid body: %v", err)
	}
	same("after a refused body")
	if err := imp(ctx, all[10_000:20_000]); err != nil {
		t.Fatal(err)
	}
	same("after the last body")
}
