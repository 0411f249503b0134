package app

import (
	"context"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The soft memory limit (--memory-limit, or GOMEMLIMIT) is sized for the
// national registry. With 540,000 outlets the live heap is about 690 bytes
// per outlet beyond the national count: about 500 for the snapshot (its
// entries, their registry text and indexes; snapshot.BenchmarkHeapPerOutlet,
// BENCHMARKS.md "Scale") and about 160 for the SQLite writer's copy of the
// outlets. So a larger registry raises the limit by 1 KiB per outlet beyond
// the national count (the rest is headroom for the garbage of commits and
// loads): otherwise half a million outlets alone would exceed the limit,
// and the collector would run back to back (every commit, delivery and
// answer paying for it). 768 bytes measured 100 MB less RSS after a rush
// at 540,000 but 6–15% more CPU to import and deliver (BENCHMARKS.md
// "Scale (5th pass)").
const (
	nationalOutlets    = 26_263
	perOutletAllowance = 1024
)

var memBase struct {
	once  sync.Once
	limit int64 // the limit set at start; MaxInt64 = none
}

// memoryForOutlets returns the snapshot's OnResize hook: it sets the soft
// memory limit to the one set at start plus the allowance for the outlets
// beyond the national count. Without a limit it does nothing.
func memoryForOutlets(log *slog.Logger) func(outlets int) {
	memBase.once.Do(func() { memBase.limit = debug.SetMemoryLimit(-1) })
	return func(outlets int) {
		if memBase.limit == math.MaxInt64 {
			return
		}
		limit := memoryLimitFor(memBase.limit, outlets)
		if old := debug.SetMemoryLimit(limit); old != limit {
			log.Info("memory limit follows the registry", "outlets", outlets, "limit_mib", limit>>20)
		}
	}
}

// liftMemoryLimit lifts the soft memory limit while a node loads its
// registry: the store's outlets, the writer's copy and the first snapshot.
// The limit is raised for the registry only once the snapshot is built
// (OnResize), so until then a large registry loaded under the national
// limit: at 540,000 outlets the heap passed 192 MiB early in the read and
// the collector ran back to back, half of a start's CPU (16 s against 8 s
// without the limit, BENCHMARKS.md "Start of a 540,000-outlet node"). The
// peak is the load's either way; GOGC still paces the heap. restore puts
// back the limit it found, unless one was set meanwhile (the snapshot's
// OnResize sized it for the registry).
func liftMemoryLimit() (restore func()) {
	found := debug.SetMemoryLimit(math.MaxInt64)
	return func() {
		if debug.SetMemoryLimit(-1) == math.MaxInt64 {
			debug.SetMemoryLimit(found)
		}
	}
}

func memoryLimitFor(base int64, outlets int) int64 {
	return base + int64(max(0, outlets-nationalOutlets))*perOutletAllowance
}

// releaseAfterBulk wraps the refresher's Bulk: once no bulk write (an import,
// a delivery list) has run for a moment, the memory their bodies, parsed
// lines and transactions took is returned to the operating system. The
// runtime would otherwise keep that high-water mark for minutes, and a
// registry load would show as hundreds of megabytes that nothing uses.
//
// The quiet moment counts from the end of the last bulk write while none
// runs: a bulk write that starts stops the clock. (It used to be armed at
// each end only: a load's next body, sent as soon as the previous one
// returned, ran longer than bulkQuiet, so the release fired in the middle
// of nearly every body of a 540,000-outlet import — a forced collection
// marking the whole heap, and the free pages handed back only to be
// faulted in again by the same body.)
func releaseAfterBulk(bulk func() func(context.Context) error, release func()) func() func(context.Context) error {
	var mu sync.Mutex
	var timer *time.Timer
	active := 0 // bulk writes begun and not ended
	fire := func() {
		mu.Lock()
		quiet := active == 0
		mu.Unlock()
		if quiet {
			release()
		}
	}
	return func() func(context.Context) error {
		mu.Lock()
		active++
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		done := bulk()
		var ended sync.Once
		return func(ctx context.Context) error {
			err := done(ctx)
			ended.Do(func() {
				mu.Lock()
				defer mu.Unlock()
				if active--; active > 0 {
					return
				}
				if timer == nil {
					timer = time.AfterFunc(bulkQuiet, fire)
				} else {
					timer.Reset(bulkQuiet)
				}
			})
			return err
		}
	}
}

// bulkQuiet is how long no bulk write must have run before its memory is
// released (a load of several bodies releases once, after the last).
const bulkQuiet = 500 * time.Millisecond

// After a burst of requests the collector's goal stays where the burst put
// it, and the runtime keeps the heap's free pages for minutes: RSS after a
// rush stayed 50–60 MB above what the live heap needs (BENCHMARKS.md
// "HTTP path, generator, RSS"). releaseWhenQuiet gives them back once the
// process has gone quiet after allocating a lot: a sampled check every
// tick, one forced collection per burst.
const (
	quietTick   = time.Second
	quietAllocs = 1 << 20               // bytes allocated in one tick below which the process is quiet
	quietCPU    = 50 * time.Millisecond // and CPU used in one tick
	burstAllocs = 64 << 20              // bytes allocated since the last release that make a burst
	quietTicks  = 3                     // quiet ticks in a row before a release
)

func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// processCPU is the CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// quietWatch decides, tick by tick, when to release: after quietTicks
// ticks in a row with fewer than quietAllocs bytes allocated and less than
// quietCPU used each, following at least burstAllocs since the last
// release. A pause between a load's setup and its load is not rest. The CPU test keeps
// the forced collection away from work that allocates little but runs
// long, such as a writer scanning a million person-weeks: with it, a
// collection may have to wait for that work to reach a point where it can
// be stopped (measured: sales stalled for seconds).
type quietWatch struct {
	since, last uint64
	cpu         time.Duration
	quiet       int // quiet ticks in a row
}

func newQuietWatch(allocs uint64, cpu time.Duration) *quietWatch {
	return &quietWatch{since: allocs, last: allocs, cpu: cpu}
}

// tick takes the bytes allocated and the CPU used so far and reports
// whether to release now.
func (q *quietWatch) tick(allocs uint64, cpu time.Duration) bool {
	if allocs-q.last < quietAllocs && cpu-q.cpu < quietCPU {
		q.quiet++
	} else {
		q.quiet = 0
	}
	q.last, q.cpu = allocs, cpu
	return q.quiet >= quietTicks && allocs-q.since >= burstAllocs
}

// released restarts the count after a release.
func (q *quietWatch) released(allocs uint64) { q.since, q.last, q.quiet = allocs, allocs, 0 }

// watchFromStart counts the bytes allocated since the process started, not
// since the watch did: a node's load (the store's outlets, the writer's
// copy, the first snapshot) is its first burst. Counted from the watch, a
// restarted 540,000-outlet node never released it and stayed at 585–664 MB
// of RSS at rest, against 438 MB after the same load in one process.
func watchFromStart() *quietWatch { return newQuietWatch(0, processCPU()) }

// startReleaseWhenQuiet returns free heap pages to the operating system
// after each burst, until ctx ends.
func startReleaseWhenQuiet(ctx context.Context) {
	q := watchFromStart()
	go everyTick(ctx, quietTick, func() {
		if q.tick(heapAllocs(), processCPU()) {
			debug.FreeOSMemory()
			q.released(heapAllocs())
		}
	})
}

// everyTick calls f every d until ctx ends.
func everyTick(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// The collector's goal is by default twice the live heap (GOGC=100). With
// the national registry and a million person-weeks the live heap is about
// 64 MB under a rush, so the heap grew to 128 MB between collections and
// the runtime kept about 155 MB of it resident: 210–220 MB RSS after a rush
// (BENCHMARKS.md "Mixed rush: where a sale waits; RSS after a rush").
// startHeapPacing gives the heap a goal of
// its live size plus a headroom of max(48 MiB, half the live heap) instead:
// the same 64 MB then grows to 112 MB (191 MB RSS; 32 MiB gave 171–176 MB
// but twice the collections in a capacity rush, +7% CPU), a small heap (at
// start, a small registry) is collected less often than with GOGC=100, and a
// large one (540,000 outlets) keeps GOGC≥50 so that the collector's work per
// allocated byte stays bounded. A fixed lower memory limit would reach the
// same figure only at today's heap: one that outgrows it (more person-weeks,
// more outlets) makes the collector run back to back.
const (
	minHeadroom  = 48 << 20
	maxGCPercent = 400
	paceEvery    = time.Second
)

// gcPercentFor is the GOGC that gives a live heap of live bytes its goal,
// in steps of 5 so that small changes of the live heap leave it alone.
// While a bulk write runs (bulk) the headroom is at least the live heap
// (GOGC ≥ bulkGCPercent), still under the soft memory limit.
func gcPercentFor(live uint64, bulk bool) int {
	if live == 0 {
		return 100
	}
	head := max(minHeadroom, live/2)
	pct := min(maxGCPercent, 100*head/live)
	if bulk {
		pct = max(pct, bulkGCPercent)
	}
	return int(pct / 5 * 5)
}

// A registry load (an import, the opening deliveries) allocates hundreds of
// megabytes of bodies, rows and entries over a live heap that is itself
// large at 540,000 outlets (400–600 MB): at GOGC≈50 the collector ran
// ~50 cycles over the load, each marking the whole registry. While a bulk
// write runs the heap pacing gives the heap a goal of twice the live heap
// (bounded by the soft memory limit, which follows the registry); the
// memory the load took is released when it ends (releaseAfterBulk), so the
// node's RSS at rest is the same. bulkWrites counts the bulk writes in
// progress (gcRoomDuringBulk); paced says the heap pacing runs (GOGC not
// set in the environment).
const bulkGCPercent = 100

var (
	bulkWrites atomic.Int32
	paced      atomic.Bool
)

// gcRoomDuringBulk wraps the refresher's Bulk: while one runs, the heap
// pacing uses bulkGCPercent (set at once, not at the next tick); after the
// last ends, the next tick paces the heap as before (newPacer compares
// with the GOGC in force).
func gcRoomDuringBulk(bulk func() func(context.Context) error) func() func(context.Context) error {
	return func() func(context.Context) error {
		if bulkWrites.Add(1) == 1 && paced.Load() {
			if old := debug.SetGCPercent(bulkGCPercent); old > bulkGCPercent {
				debug.SetGCPercent(old)
			}
		}
		done := bulk()
		var ended sync.Once
		return func(ctx context.Context) error {
			err := done(ctx)
			ended.Do(func() { bulkWrites.Add(-1) })
			return err
		}
	}
}

// startHeapPacing keeps GOGC at gcPercentFor(the live heap), checked every
// second, until ctx ends. A GOGC set in the environment is left alone.
func startHeapPacing(ctx context.Context) {
	if os.Getenv("GOGC") != "" {
		return
	}
	paced.Store(true)
	pace := newPacer()
	pace()
	go everyTick(ctx, paceEvery, pace)
}

// newPacer returns one step of the heap pacing: GOGC set to
// gcPercentFor(the live heap) unless already in force. It compares with
// the GOGC in force (/gc/gogc:percent), not with the last one it set: a
// bulk write that began and ended between two steps set its own
// (gcRoomDuringBulk), and the pacing must put its value back.
func newPacer() func() {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/gogc:percent"}}
	return func() {
		metrics.Read(s)
		if pct := gcPercentFor(s[0].Value.Uint64(), bulkWrites.Load() > 0); uint64(pct) != s[1].Value.Uint64() {
			debug.SetGCPercent(pct)
		}
	}
}
