package app

import (
	"context"
	"errors"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryLimitFor(t *testing.T) {
	const base = 192 << 20
	for _, c := range []struct {
		outlets int
		want    int64
	}{
		{0, base},
		{nationalOutlets, base},
		{nationalOutlets + 1, base + perOutletAllowance},
		{540_000, base + (540_000-nationalOutlets)*perOutletAllowance},
	} {
		if got := memoryLimitFor(base, c.outlets); got != c.want {
			t.Errorf("%d outlets: %d, want %d", c.outlets, got, c.want)
		}
	}
}

// A load of several bodies releases its memory once, after the last body,
// and each body's done still reports its own result.
func TestReleaseAfterBulk(t *testing.T) {
	var released, ended atomic.Int32
	boom := errors.New("boom")
	bulk := func() func(context.Context) error {
		return func(context.Context) error {
			if ended.Add(1) == 2 {
				return boom
			}
			return nil
		}
	}
	wrapped := releaseAfterBulk(bulk, func() { released.Add(1) })
	start := time.Now()
	for i := range 3 {
		err := wrapped()(context.Background())
		if (i == 1) != (err == boom) {
			t.Fatalf("body %d: err %v", i, err)
		}
	}
	for released.Load() == 0 {
		if time.Since(start) > 10*time.Second {
			t.Fatal("memory never released after the bulk writes")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if time.Since(start) < bulkQuiet {
		t.Fatal("released before the bulk writes were quiet")
	}
	time.Sleep(2 * bulkQuiet)
	if n := released.Load(); n != 1 {
		t.Fatalf("released %d times, want once", n)
	}
}

// No release falls inside a bulk write: a body that runs longer than
// bulkQuiet after the previous one ended (a load's next body, sent as soon
// as the previous returned) is not interrupted, nor are overlapping bulk
// writes while one still runs; the release comes once the last has ended.
func TestNoReleaseDuringABulkWrite(t *testing.T) {
	ctx := context.Background()
	var released atomic.Int32
	bulk := func() func(context.Context) error { return func(context.Context) error { return nil } }
	wrapped := releaseAfterBulk(bulk, func() { released.Add(1) })
	if err := wrapped()(ctx); err != nil {
		t.Fatal(err)
	}
	second := wrapped() // begins right after the first ended, runs long
	time.Sleep(2 * bulkQuiet)
	if n := released.Load(); n != 0 {
		t.Fatalf("released %d times during a bulk write", n)
	}
	third := wrapped()
	_ = second(ctx)
	_ = second(ctx) // a second call ends nothing more
	time.Sleep(2 * bulkQuiet)
	if n := released.Load(); n != 0 {
		t.Fatalf("released %d times while an overlapping bulk write ran", n)
	}
	end := time.Now()
	_ = third(ctx)
	for released.Load() == 0 {
		if time.Since(end) > 10*time.Second {
			t.Fatal("memory never released after the bulk writes")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if time.Since(end) < bulkQuiet {
		t.Fatal("released before the bulk writes were quiet")
	}
}

// The memory of a burst is released once, at the first quiet tick after
// it; a steady trickle never counts as quiet, and a quiet process with
// little allocated is left alone.
func TestReleaseWhenQuiet(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		name  string
		steps []uint64 // bytes allocated during each tick
		busy  []int    // ticks (1-based) with CPU use above quietCPU
		want  []int    // ticks (1-based) after which release ran
	}{
		{"burst then quiet", []uint64{40 * mb, 40 * mb, 0, 0, 0, 0}, nil, []int{5}},
		{"pause shorter than rest", []uint64{70 * mb, 0, 0, 5 * mb, 0, 0}, nil, nil},
		{"busy throughout", []uint64{40 * mb, 40 * mb, 2 * mb, 2 * mb, 2 * mb}, nil, nil},
		{"small burst", []uint64{30 * mb, 0, 0, 0, 0}, nil, nil},
		{"two bursts", []uint64{70 * mb, 0, 10, 0, 70 * mb, 100, 0, 0}, nil, []int{4, 8}},
		{"trickle just above quiet", []uint64{70 * mb, quietAllocs, quietAllocs, quietAllocs - 1, 0, 0}, nil, []int{6}},
		{"long work allocating little", []uint64{70 * mb, 0, 0, 0, 0, 0}, []int{2, 3}, []int{6}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var total uint64
			var cpu time.Duration
			var got []int
			q := newQuietWatch(total, cpu)
			for i, n := range c.steps {
				total += n
				cpu += time.Millisecond
				if slices.Contains(c.busy, i+1) {
					cpu += quietCPU
				}
				if q.tick(total, cpu) {
					got = append(got, i+1)
					q.released(total)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("released after ticks %v, want %v", got, c.want)
			}
		})
	}
}

// A node's load happens before the watch starts, and is its first burst.
func TestReleaseAfterTheLoad(t *testing.T) {
	for range 80 {
		loadGarbage = append(loadGarbage, make([]byte, 1<<20))
	}
	loadGarbage = nil
	q := watchFromStart()
	allocs, cpu := heapAllocs(), processCPU()
	released := false
	for range quietTicks + 1 { // the first tick sees the load
		released = q.tick(allocs, cpu)
	}
	if !released {
		t.Fatal("the load before the watch started was never released")
	}
}

// loadGarbage is what TestReleaseAfterTheLoad's load allocates (a package
// variable, so that the allocations are not optimised away).
var loadGarbage [][]byte

// The heap's goal is its live size plus max(32 MiB, half of it): more often
// than GOGC=100 above 32 MiB (up to twice as often at 64 MiB), less often below, never below
// GOGC=50 for a large heap, and never above maxGCPercent for a tiny one.
func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{1 * mib, maxGCPercent},
		{16 * mib, 300},
		{48 * mib, 100},
		{64 * mib, 75},
		{72 * mib, 65}, // 66.7 in steps of 5
		{96 * mib, 50},
		{400 * mib, 50},
	} {
		if got := gcPercentFor(c.live, false); got != c.want {
			t.Errorf("live %d MiB: GOGC %d, want %d", c.live/mib, got, c.want)
		}
		if got, want := gcPercentFor(c.live, true), max(c.want, bulkGCPercent); got != want {
			t.Errorf("live %d MiB, bulk write: GOGC %d, want %d", c.live/mib, got, want)
		}
	}
}

// The limit is lifted while a node loads and comes back as it was, unless
// the snapshot sized it for the registry meanwhile.
func TestLiftMemoryLimit(t *testing.T) {
	found := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(found)
	debug.SetMemoryLimit(192 << 20)
	restore := liftMemoryLimit()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("limit while loading = %d, want none", got)
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != 192<<20 {
		t.Fatalf("limit after loading = %d, want the one found (192 MiB)", got)
	}
	restore = liftMemoryLimit()
	debug.SetMemoryLimit(693 << 20) // OnResize, for 540,000 outlets
	restore()
	if got := debug.SetMemoryLimit(-1); got != 693<<20 {
		t.Fatalf("limit after loading = %d, want the registry's (693 MiB)", got)
	}
}

// A bulk write gives the heap room at once (GOGC ≥ bulkGCPercent while it
// runs, when the pacing runs), and the pacing's count of bulk writes
// falls back when the last one ends, however often its end is called.
func TestGCRoomDuringBulk(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(50))
	defer paced.Store(paced.Load())
	paced.Store(true)
	bulk := func() func(context.Context) error { return func(context.Context) error { return nil } }
	wrapped := gcRoomDuringBulk(bulk)
	end1 := wrapped()
	if got := debug.SetGCPercent(-1); got != bulkGCPercent {
		t.Fatalf("GOGC during a bulk write = %d, want %d", got, bulkGCPercent)
	}
	debug.SetGCPercent(bulkGCPercent)
	end2 := wrapped()
	if n := bulkWrites.Load(); n != 2 {
		t.Fatalf("%d bulk writes counted, want 2", n)
	}
	end1(context.Background())
	end1(context.Background())
	if n := bulkWrites.Load(); n != 1 {
		t.Fatalf("%d bulk writes counted after one ended (twice), want 1", n)
	}
	end2(context.Background())
	if n := bulkWrites.Load(); n != 0 {
		t.Fatalf("%d bulk writes counted after both ended, want 0", n)
	}
	// A larger GOGC (a small heap) is kept.
	debug.SetGCPercent(300)
	end := wrapped()
	if got := debug.SetGCPercent(-1); got != 300 {
		t.Errorf("GOGC 300 during a bulk write became %d", got)
	}
	end(context.Background())
}

// TestPacingUndoesAShortBulkWrite: a bulk write that begins and ends between
// two steps of the heap pacing leaves its GOGC behind; the next step puts
// the paced value back (it compares with the GOGC in force, not with the
// last value it set itself).
func TestPacingUndoesAShortBulkWrite(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer paced.Store(paced.Load())
	paced.Store(true)
	live := make([]byte, 400<<20) // a live heap the pacing gives less than 100
	runtime.GC()
	gogc := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	read := func() uint64 { metrics.Read(gogc); return gogc[0].Value.Uint64() }
	pace := newPacer()
	pace()
	want := read()
	if want >= bulkGCPercent {
		t.Fatalf("paced GOGC %d with a 400 MiB heap, want < %d", want, bulkGCPercent)
	}
	end := gcRoomDuringBulk(func() func(context.Context) error { return func(context.Context) error { return nil } })()
	end(context.Background())
	if got := read(); got != bulkGCPercent {
		t.Fatalf("GOGC right after a short bulk write = %d, want %d (what the write set)", got, bulkGCPercent)
	}
	pace()
	if got := read(); got != want {
		t.Errorf("GOGC a step after a short bulk write = %d, want the paced %d", got, want)
	}
	runtime.KeepAlive(live)
}
