package snapshot

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
)

// A bulk write ends with no other holding and its last change still
// pending; another bulk write (a delivery list, the next import body)
// begins before the apply goroutine takes that change: it is held back,
// and done returns with the new outlet not in the snapshot.
func TestImportVisibleWhenNextBulkBeginsBeforeApply(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newFakeSource(synthetic(50, 1))
	var armed atomic.Bool
	gate := make(chan struct{})
	r := NewRefresher(src, Options{Clock: func() time.Time { return t0 }, OnResize: func(int) {
		if armed.CompareAndSwap(true, false) {
			<-gate // keep the apply goroutine busy
		}
	}})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	at := r.Current().At(0).Outlet()
	mk := func(code string) publicmask.Outlet {
		return src.put(publicmask.Outlet{Code: code, Name: code, Addr: at.Addr, Type: "01", Lat: at.Lat, Lng: at.Lng})
	}
	// 1. The apply goroutine busy with an unrelated new outlet (resize blocks).
	armed.Store(true)
	r.Notify([]publicmask.Outlet{mk("88888888")})
	for armed.Load() {
		time.Sleep(time.Millisecond)
	}
	// 2. An import: its new outlet notified, still pending.
	done := r.Bulk()
	x := mk("99999999")
	r.Notify([]publicmask.Outlet{x})
	ret := make(chan error, 1)
	go func() {
		sctx, c := context.WithTimeout(ctx, 5*time.Second)
		defer c()
		ret <- done(sctx)
	}()
	// 3. Once the import's end is counted, another bulk write begins.
	for {
		r.mu.Lock()
		h := r.holds
		r.mu.Unlock()
		if h == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	other := r.Bulk()
	defer other(ctx)
	close(gate)
	if err := <-ret; err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Current().Lookup(x.Code); !ok {
		t.Fatalf("import returned, its outlet %s not in the snapshot", x.Code)
	}
}

// Bulk writes overlapping each other and plain writes, the same codes
// changed several times, notified in shuffled chunks: whatever a bulk
// write notified is in the snapshot (at that version or newer) when its
// done returns, and the snapshot matches the source at the end.
func TestOverlappingBulkWritesVisibleOnReturn(t *testing.T) {
	for round := range 8 {
		overlappingBulkRound(t, uint64(round))
	}
}

func overlappingBulkRound(t *testing.T, seed uint64) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base := synthetic(300, seed)
	src := newFakeSource(base)
	r := NewRefresher(src, Options{Clock: func() time.Time { return t0 }})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	codes := make([]string, len(base))
	for i, o := range base {
		codes[i] = o.Code
	}
	var codesMu sync.Mutex
	next := 0
	check := func(t *testing.T, what string, notified []publicmask.Outlet) {
		s := r.Current()
		for _, o := range notified {
			e, ok := s.Lookup(o.Code)
			if !ok || e.Version < o.Version {
				v := int64(-1)
				if ok {
					v = e.Version
				}
				t.Errorf("seed %d %s: %s v%d notified before return, snapshot has %v v%d", seed, what, o.Code, o.Version, ok, v)
			}
		}
	}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for range 60 {
				bulk := rng.IntN(2) == 0
				var done func(context.Context) error
				if bulk {
					done = r.Bulk()
				}
				var notified []publicmask.Outlet
				for range 1 + rng.IntN(5) {
					var chunk []publicmask.Outlet
					for range 1 + rng.IntN(40) {
						var code string
						codesMu.Lock()
						if rng.IntN(4) == 0 {
							next++
							code = fmt.Sprintf("9%07d", next)
							codes = append(codes, code)
						} else {
							code = codes[rng.IntN(len(codes))]
						}
						codesMu.Unlock()
						at := base[rng.IntN(len(base))]
						cur, _ := func() (publicmask.Outlet, bool) {
							src.mu.Lock()
							defer src.mu.Unlock()
							o, ok := src.outlets[code]
							return o, ok
						}()
						o := publicmask.Outlet{Code: code, Name: fmt.Sprintf("n%d", rng.IntN(1000)), Type: "01"}
						if cur.Code != "" && rng.IntN(2) == 0 {
							o.Addr, o.Lat, o.Lng = cur.Addr, cur.Lat, cur.Lng // stock/name only
						} else {
							o.Addr, o.Lat, o.Lng = at.Addr, at.Lat, at.Lng // moved or new
						}
						chunk = append(chunk, src.put(o))
					}
					rng.Shuffle(len(chunk), func(i, j int) { chunk[i], chunk[j] = chunk[j], chunk[i] })
					r.Notify(chunk)
					notified = append(notified, chunk...)
					if rng.IntN(3) == 0 {
						time.Sleep(time.Duration(rng.IntN(200)) * time.Microsecond)
					}
				}
				sctx, c := context.WithTimeout(ctx, 10*time.Second)
				if bulk {
					if err := done(sctx); err != nil {
						t.Error(err)
					}
					check(t, "bulk", notified)
				} else {
					if err := r.Sync(sctx); err != nil {
						t.Error(err)
					}
					// Plain writes are not checked here: changes that move an
					// outlet may be held back by another bulk write.
				}
				c()
			}
		})
	}
	wg.Wait()
	sctx, c := context.WithTimeout(ctx, 10*time.Second)
	defer c()
	if err := r.Sync(sctx); err != nil {
		t.Fatal(err)
	}
	s := r.Current()
	src.mu.Lock()
	defer src.mu.Unlock()
	if s.Len() != len(src.outlets) {
		t.Fatalf("seed %d: snapshot %d outlets, source %d", seed, s.Len(), len(src.outlets))
	}
	for code, o := range src.outlets {
		e, ok := s.Lookup(code)
		if !ok || e.Version != o.Version || e.Name() != o.Name || e.Addr() != o.Addr || e.Lat != o.Lat || e.Lng != o.Lng {
			t.Fatalf("seed %d: %s: snapshot %v %+v, source %+v", seed, code, ok, e, o)
		}
	}
}
