package snapshot

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
)

// TestBulkHoldsRebuildsAndSettles: during a bulk write, new and moved outlets
// wait while stock changes go through; when the bulk write ends, its done
// returns only once the snapshot holds everything it wrote.
func TestBulkHoldsRebuildsAndSettles(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newFakeSource(synthetic(200, 1))
	step := resizeStep
	resizeStep = 1
	t.Cleanup(func() { resizeStep = step })
	var (
		sizesMu sync.Mutex
		sizes   []int // what OnResize was told, in order
	)
	told := func() []int {
		sizesMu.Lock()
		defer sizesMu.Unlock()
		return slices.Clone(sizes)
	}
	r := NewRefresher(src, Options{Clock: func() time.Time { return t0 }, OnResize: func(n int) {
		sizesMu.Lock()
		sizes = append(sizes, n)
		sizesMu.Unlock()
	}})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	base := r.Current()
	a, b := base.At(0).Outlet(), base.At(1).Outlet()

	done := r.Bulk()
	newcomer := src.put(publicmask.Outlet{Code: "99999999", Name: "새약국", Addr: a.Addr, Type: "01", Lat: a.Lat, Lng: a.Lng})
	b.Lat += 0.01
	moved := src.put(b)
	a.Stock, a.StockAt = 300, t0
	sold := src.put(a)
	r.Notify([]publicmask.Outlet{newcomer})
	r.Notify([]publicmask.Outlet{moved, sold})
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	s := r.Current()
	if e, _ := s.Lookup(a.Code); e.Stock != 300 {
		t.Fatalf("stock change held back during a bulk write: stock %d", e.Stock)
	}
	if _, ok := s.Lookup(newcomer.Code); ok {
		t.Fatal("a new outlet was applied during the bulk write")
	}
	if e, _ := s.Lookup(b.Code); e.Version == moved.Version {
		t.Fatal("a moved outlet was applied during the bulk write")
	}
	// The memory budget counts the held-back newcomer (not the moved
	// outlet) before it is visible.
	if got := told(); !slices.Equal(got, []int{200, 201}) {
		t.Fatalf("OnResize during the bulk write: %v, want [200 201]", got)
	}

	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	if err := done(sctx); err != nil {
		t.Fatal(err)
	}
	s = r.Current()
	if _, ok := s.Lookup(newcomer.Code); !ok || s.Len() != 201 {
		t.Fatalf("after done: newcomer visible %v, %d outlets", ok, s.Len())
	}
	if e, _ := s.Lookup(b.Code); e.Version != moved.Version || e.Lat != b.Lat {
		t.Fatal("the moved outlet is not applied after done")
	}
	if hits := s.Near(b.Lat, b.Lng, 1, nil); len(hits) != 1 || s.At(int(hits[0].Pos)).Code() != b.Code {
		t.Fatalf("the moved outlet is not at its new place: %v", hits)
	}
	if got := told(); !slices.Equal(got, []int{200, 201}) {
		t.Fatalf("OnResize after the bulk write: %v, want [200 201] (never back down while rebuilding)", got)
	}
	if err := done(sctx); err != nil { // a second call is harmless
		t.Fatal(err)
	}
}

// Two bulk writes overlap (two import bodies sent at once): the first to
// end returns only once its new outlet is visible, although the second
// still holds rebuilds back; the second's later outlet waits for its end.
func TestOverlappingBulkWritesEachSettle(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newFakeSource(synthetic(200, 1))
	r := NewRefresher(src, Options{Clock: func() time.Time { return t0 }})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	a := r.Current().At(0).Outlet()
	first, second := r.Bulk(), r.Bulk()
	one := src.put(publicmask.Outlet{Code: "99999991", Name: "첫약국", Addr: a.Addr, Type: "01", Lat: a.Lat, Lng: a.Lng})
	r.Notify([]publicmask.Outlet{one})
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	if err := first(sctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Current().Lookup(one.Code); !ok {
		t.Fatal("the first bulk write returned before its outlet was visible")
	}
	two := src.put(publicmask.Outlet{Code: "99999992", Name: "둘약국", Addr: a.Addr, Type: "01", Lat: a.Lat, Lng: a.Lng})
	r.Notify([]publicmask.Outlet{two})
	if err := r.Sync(sctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Current().Lookup(two.Code); ok {
		t.Fatal("a new outlet was applied while a bulk write still ran")
	}
	if err := second(sctx); err != nil {
		t.Fatal(err)
	}
	if s := r.Current(); s.Len() != 202 {
		t.Fatalf("after both: %d outlets", s.Len())
	}
}

// A new outlet held back by a bulk write that changes again before the end
// (a second import of it in an overlapping write, moved): the end applies
// its last version, at its last place.
func TestHeldBackOutletAppliesItsLastVersion(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newFakeSource(synthetic(200, 1))
	r := NewRefresher(src, Options{Clock: func() time.Time { return t0 }})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := r.Current().At(0).Outlet(), r.Current().At(1).Outlet()
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	done := r.Bulk()
	v1 := src.put(publicmask.Outlet{Code: "99999991", Name: "첫이름", Addr: a.Addr, Type: "01", Lat: a.Lat, Lng: a.Lng})
	r.Notify([]publicmask.Outlet{v1})
	if err := r.Sync(sctx); err != nil { // held back
		t.Fatal(err)
	}
	v2 := v1
	v2.Name, v2.Addr, v2.Lat, v2.Lng = "둘째이름", b.Addr, b.Lat, b.Lng
	v2 = src.put(v2)
	r.Notify([]publicmask.Outlet{v2})
	if err := done(sctx); err != nil {
		t.Fatal(err)
	}
	s := r.Current()
	e, ok := s.Lookup(v1.Code)
	if !ok || e.Version != v2.Version || e.Name() != v2.Name || e.Addr() != v2.Addr || e.Place() != ParseAddress(v2.Addr) {
		t.Fatalf("after the bulk write: %v %+v, want version %d named %q at %q", ok, e, v2.Version, v2.Name, v2.Addr)
	}
	if hits := s.Near(b.Lat, b.Lng, 1, nil); len(hits) != 2 {
		t.Fatalf("%d outlets at the second place, want 2", len(hits))
	}
}

// TestDropMergeState: an import body's merge leaves the place index its
// map by label; DropMergeState drops it (once a load is over), and the
// next merge makes one again.
func TestDropMergeState(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newFakeSource(synthetic(200, 1))
	r := NewRefresher(src, Options{Clock: func() time.Time { return t0 }})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	news := synthetic(100, 2)
	for i := range news {
		news[i].Code = "9" + news[i].Code[1:]
	}
	body := func(from, to int) {
		t.Helper()
		done := r.Bulk()
		var sent []publicmask.Outlet
		for i := from; i < to; i++ {
			sent = append(sent, src.put(news[i]))
		}
		r.Notify(sent)
		if err := done(sctx); err != nil {
			t.Fatal(err)
		}
	}
	body(0, 50)
	if r.Current().reg.places.labels.Load() == nil {
		t.Fatal("a merged body left no map of places by label")
	}
	r.DropMergeState()
	if r.Current().reg.places.labels.Load() != nil {
		t.Fatal("DropMergeState kept the map")
	}
	body(50, 100)
	if n := r.Current().Len(); n != 300 {
		t.Fatalf("%d outlets, want 300", n)
	}
	if r.Current().reg.places.labels.Load() == nil {
		t.Fatal("the next merge made no map")
	}
}

// The map by label outlives its merge by mergeStateTTL only while no bulk
// write runs: a merge outside a load (here a plain Notify of new outlets,
// as a seed or a polling public node makes) does not keep ~10 MB for good.
func TestIdleMergeStateDropped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newFakeSource(synthetic(200, 1))
	r := NewRefresher(src, Options{Clock: func() time.Time { return t0 }})
	var mu sync.Mutex
	mono := time.Unix(0, 0)
	r.monoNow = func() time.Time { mu.Lock(); defer mu.Unlock(); return mono }
	advance := func(d time.Duration) { mu.Lock(); mono = mono.Add(d); mu.Unlock() }
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	news := synthetic(20, 2)
	for i := range news {
		news[i].Code = "9" + news[i].Code[1:]
	}
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	r.Notify([]publicmask.Outlet{src.put(news[0])})
	if err := r.Sync(sctx); err != nil {
		t.Fatal(err)
	}
	labels := func() bool { return r.Current().reg.places.labels.Load() != nil }
	if !labels() {
		t.Fatal("a merge of a new outlet left no map by label")
	}
	waitFor := func(want bool, what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for labels() != want {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
			r.signal()
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Seen, then younger than the TTL: kept.
	r.signal()
	advance(mergeStateTTL / 2)
	for range 5 {
		r.signal()
		time.Sleep(5 * time.Millisecond)
	}
	if !labels() {
		t.Fatal("the map was dropped before mergeStateTTL")
	}
	// A bulk write running: kept past the TTL.
	done := r.Bulk()
	advance(2 * mergeStateTTL)
	for range 5 {
		r.signal()
		time.Sleep(5 * time.Millisecond)
	}
	if !labels() {
		t.Fatal("the map was dropped while a bulk write ran")
	}
	if err := done(sctx); err != nil {
		t.Fatal(err)
	}
	// No bulk write, older than the TTL: dropped at the next wake.
	waitFor(false, "the map outlived mergeStateTTL with no bulk write")
	// A later merge makes it again, and the outlets are all there.
	r.Notify([]publicmask.Outlet{src.put(news[1])})
	if err := r.Sync(sctx); err != nil {
		t.Fatal(err)
	}
	if !labels() || r.Current().Len() != 202 {
		t.Fatalf("after the next merge: map %v, %d outlets; want a map and 202", labels(), r.Current().Len())
	}
}

// TestReleasedInVersionOrderNewestWins: what a bulk write held back is
// applied at its end as one batch, one change per code, the newest of
// each (a code held again replaces its held change in place; an older
// change notified late is ignored; a change still pending at the end wins
// over the held one), in version order for subscribers.
func TestReleasedInVersionOrderNewestWins(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newFakeSource(synthetic(200, 1))
	r := NewRefresher(src, Options{Clock: func() time.Time { return t0 }})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := r.Current().At(0).Outlet(), r.Current().At(1).Outlet()
	sub := r.Subscribe(1024, nil)
	defer sub.Close()
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	put := func(code, name string, at publicmask.Outlet) publicmask.Outlet {
		return src.put(publicmask.Outlet{Code: code, Name: name, Addr: at.Addr, Type: "01", Lat: at.Lat, Lng: at.Lng})
	}
	notify := func(os ...publicmask.Outlet) {
		t.Helper()
		r.Notify(os)
		if err := r.Sync(sctx); err != nil {
			t.Fatal(err)
		}
	}
	done := r.Bulk()
	x1, y1 := put("99999991", "x1", a), put("99999992", "y1", a)
	notify(y1, x1) // held back in version order, whatever the order given
	x2 := put("99999991", "x2", b)
	z1 := put("99999993", "z1", a)
	notify(z1, x2) // x held again: its place in the held set, its newest change
	notify(x1)     // an older change, late: ignored
	y2 := put("99999992", "y2", b)
	r.Notify([]publicmask.Outlet{y2}) // pending at the end
	if err := done(sctx); err != nil {
		t.Fatal(err)
	}
	s := r.Current()
	for _, want := range []publicmask.Outlet{x2, y2, z1} {
		e, ok := s.Lookup(want.Code)
		if !ok || e.Version != want.Version || e.Name() != want.Name || e.Lat != want.Lat {
			t.Fatalf("%s after the bulk write: %v %+v, want version %d named %q", want.Code, ok, e, want.Version, want.Name)
		}
	}
	if s.Len() != 203 {
		t.Fatalf("%d outlets, want 203", s.Len())
	}
	var last int64
	var got []string
	for len(got) < 3 {
		select {
		case batch := <-sub.C:
			for _, e := range batch {
				if e.Version <= last {
					t.Fatalf("version %d after %d", e.Version, last)
				}
				last = e.Version
				got = append(got, e.Name())
			}
		case <-sctx.Done():
			t.Fatalf("published %v only", got)
		}
	}
	if !slices.Equal(got, []string{"x2", "z1", "y2"}) {
		t.Fatalf("published %v, want [x2 z1 y2]", got)
	}
}

// TestByVersionInPlace: a batch large enough to be sorted by its keys and
// permuted comes back in version order, every outlet once, in its own
// memory; so does a small one.
func TestByVersionInPlace(t *testing.T) {
	for _, n := range []int{0, 1, 7, 1023, 1024, 5000} {
		batch := make([]publicmask.Outlet, n)
		for i, v := range rand.New(rand.NewPCG(uint64(n), 1)).Perm(n) {
			batch[i] = publicmask.Outlet{Code: strconv.Itoa(v), Version: int64(v + 1)}
		}
		got := byVersion(batch)
		if n > 0 && &got[0] != &batch[0] {
			t.Fatalf("%d: sorted into other memory", n)
		}
		for i, o := range got {
			if o.Version != int64(i+1) || o.Code != strconv.Itoa(i) {
				t.Fatalf("%d: [%d] = %s v%d", n, i, o.Code, o.Version)
			}
		}
	}
}
