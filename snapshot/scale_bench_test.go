package snapshot

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/seed"
)

// BenchmarkApply measures one commit's cost in the read model: applying a
// batch of 64 stock changes (random outlets, as a rush spreads them) to a
// stocked snapshot of the national demo and of 540,000 outlets. The cost
// must follow the batch, not the registry: the two sizes should be within
// 2× of each other.
//
//	go test ./snapshot -run '^$' -bench 'Apply$' -benchmem
func BenchmarkApply(b *testing.B) {
	for _, n := range []int{26_263, 540_000} {
		b.Run(fmt.Sprintf("outlets=%d", n), func(b *testing.B) {
			outlets, s := stocked(n)
			v := s.Version()
			rng := rand.New(rand.NewPCG(1, 2))
			batches := make([][]publicmask.Outlet, 64)
			for k := range batches {
				batch := make([]publicmask.Outlet, 64)
				for j := range batch {
					batch[j] = outlets[rng.IntN(len(outlets))]
				}
				batches[k] = batch
			}
			runtime.GC()
			b.ResetTimer()
			for i := range b.N {
				batch := batches[i%len(batches)]
				for j := range batch {
					v++
					batch[j].Version = v
					batch[j].Stock = (batch[j].Stock + 499) % 500
					batch[j].UpdatedAt = t0.Add(time.Duration(v))
				}
				ns, _ := s.apply(batch, t0)
				s = ns
			}
		})
	}
}

// stocked returns n stocked outlets and their snapshot, made once per
// process (building 540,000 takes long; the benchmark runs several times).
func stocked(n int) ([]publicmask.Outlet, *Snapshot) {
	stockedMu.Lock()
	defer stockedMu.Unlock()
	if c, ok := stockedCache[n]; ok {
		return slices.Clone(c.outlets), c.s
	}
	outlets := seed.Outlets(seed.Options{Seed: 2020, Count: n})
	for i := range outlets {
		outlets[i].Stock, outlets[i].StockAt, outlets[i].UpdatedAt = 500, t0, t0
		outlets[i].Version = int64(i + 1)
	}
	s := build(outlets, int64(len(outlets)), t0)
	stockedCache[n] = stockedSet{outlets, s}
	return slices.Clone(outlets), s
}

type stockedSet struct {
	outlets []publicmask.Outlet
	s       *Snapshot
}

var (
	stockedMu    sync.Mutex
	stockedCache = map[int]stockedSet{}
)

// BenchmarkApplyImportChunk measures applying a commit of 2,000 new outlets (one
// import chunk of the ledger) to a snapshot of 540,000.
//
//	go test ./snapshot -run '^$' -bench 'ApplyImport' -benchtime 3x
func BenchmarkApplyImportChunk(b *testing.B) {
	for _, merge := range []bool{true, false} {
		b.Run(fmt.Sprintf("merge=%v", merge), func(b *testing.B) { benchApplyImport(b, 540_000, 2_000, merge) })
	}
}

// BenchmarkApplyImportBody measures the last import body of a 540,000
// outlet load (100,000 new outlets into 440,000), merged and rebuilt.
func BenchmarkApplyImportBody(b *testing.B) {
	for _, merge := range []bool{true, false} {
		b.Run(fmt.Sprintf("merge=%v", merge), func(b *testing.B) { benchApplyImport(b, 440_000, 100_000, merge) })
	}
}

func benchApplyImport(b *testing.B, have, add int, merge bool) {
	defer func() { mergeImports = true }()
	outlets := seed.Outlets(seed.Options{Seed: 2020, Count: have + add})
	for i := range outlets {
		outlets[i].Version = int64(i + 1)
	}
	base, extra := outlets[:have], outlets[have:]
	s := build(base, int64(have), t0)
	mergeImports = merge
	runtime.GC()
	b.ResetTimer()
	for range b.N {
		if ns, _ := s.apply(extra, t0); ns.n != have+add {
			b.Fatal("not applied")
		}
	}
}

// BenchmarkHeapPerOutlet reports the live heap a stocked snapshot holds per
// outlet (entries, their encodings and every index) and the heap objects
// per outlet, at the national size and at 540,000, with the time one
// collection takes over it (what every answer and commit pays for in a
// collector cycle; noisy on a shared machine).
//
//	go test ./snapshot -run '^$' -bench 'HeapPerOutlet' -benchtime 1x
func BenchmarkHeapPerOutlet(b *testing.B) {
	for _, n := range []int{26_263, 540_000} {
		b.Run(fmt.Sprintf("outlets=%d", n), func(b *testing.B) {
			seed.Outlets(seed.Options{Seed: 2020, Count: 1}) // the generator's own tables
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			// As read from a store: the outlets' strings are the snapshot's
			// to keep or drop.
			outlets := seed.Outlets(seed.Options{Seed: 2020, Count: n})
			for i := range outlets {
				outlets[i].Stock, outlets[i].StockAt, outlets[i].UpdatedAt = 500, t0, t0
				outlets[i].Version = int64(i + 1)
			}
			var s *Snapshot
			for range b.N {
				s = build(outlets, int64(n), t0)
			}
			outlets = nil
			runtime.GC()
			start, cpu0 := time.Now(), cpuTime()
			runtime.GC()
			gc, gcCPU := time.Since(start), cpuTime()-cpu0
			runtime.ReadMemStats(&after)
			b.ReportMetric((float64(after.HeapAlloc)-float64(before.HeapAlloc))/float64(n), "heapB/outlet")
			// Objects are what the collector visits: fewer is less marking.
			b.ReportMetric((float64(after.HeapObjects)-float64(before.HeapObjects))/float64(n), "objects/outlet")
			b.ReportMetric(float64(gc.Microseconds())/1000, "gc-ms")
			// The collector's CPU for one cycle over the registry: what every
			// cycle a request's garbage brings on costs (less sensitive to a
			// shared machine than gc-ms).
			b.ReportMetric(float64(gcCPU.Microseconds())/1000, "gc-cpu-ms")
			runtime.KeepAlive(s)
		})
	}
}

// BenchmarkExpire measures the once-a-second forecast expiry (on the apply
// goroutine, so it delays commits) on a stocked snapshot where no outlet
// is selling: its cost must follow the selling outlets, not the registry.
//
//	go test ./snapshot -run '^$' -bench 'Expire$' -benchtime 20x
func BenchmarkExpire(b *testing.B) {
	for _, n := range []int{26_263, 540_000} {
		b.Run(fmt.Sprintf("outlets=%d", n), func(b *testing.B) {
			_, s := stocked(n)
			s, _ = s.Expire(t0.Add(time.Hour)) // settle the marks, as the refresher's first confirm does
			b.ResetTimer()
			for range b.N {
				if ns, ch := s.Expire(t0.Add(time.Hour)); ns != s || ch != nil {
					b.Fatal("nothing to expire, yet a new snapshot")
				}
			}
		})
	}
}

// cpuTime is the user and system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkImportBodyTail is the refresher through one import body of a
// 540,000-outlet load (100,000 new outlets into 440,000), as the server
// runs it: a bulk write whose commits of 2,000 outlets (in code order) are
// notified ~20 ms apart, as the writer makes them, then its end. tail-ms is
// how long the end waited for the snapshot (what the import request waits
// for after its last commit), tail-cpu-ms the process's CPU meanwhile (the
// work on that path, both cores); cpu-ms is the process's CPU over the body.
//
//	go test ./snapshot -run '^$' -bench ImportBodyTail -benchtime 3x
func BenchmarkImportBodyTail(b *testing.B) {
	const have, add, chunk = 440_000, 100_000, 2000
	outlets := seed.Outlets(seed.Options{Seed: 2020, Count: have + add})
	extra := outlets[have:]
	slices.SortFunc(extra, func(a, b publicmask.Outlet) int { return cmpStr(a.Code, b.Code) })
	for i := range extra {
		extra[i].Version = int64(have + i + 1)
	}
	var tail, tailCPU, cpu time.Duration
	for range b.N {
		b.StopTimer()
		ctx, cancel := context.WithCancel(context.Background())
		r := NewRefresher(newFakeSource(outlets[:have]), Options{Clock: func() time.Time { return t0 }})
		if err := r.Start(ctx); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		b.StartTimer()
		c0 := cpuTime()
		done := r.Bulk()
		for lo := 0; lo < add; lo += chunk {
			r.Notify(extra[lo:min(lo+chunk, add)])
			time.Sleep(20 * time.Millisecond)
		}
		t, tc := time.Now(), cpuTime()
		if err := done(ctx); err != nil {
			b.Fatal(err)
		}
		tail += time.Since(t)
		tailCPU += cpuTime() - tc
		cpu += cpuTime() - c0
		if n := r.Current().Len(); n != have+add {
			b.Fatalf("%d outlets in the snapshot, want %d", n, have+add)
		}
		b.StopTimer()
		cancel()
		b.StartTimer()
	}
	b.ReportMetric(float64(tail.Milliseconds())/float64(b.N), "tail-ms")
	b.ReportMetric(float64(tailCPU.Milliseconds())/float64(b.N), "tail-cpu-ms")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms")
}

// BenchmarkDelivered is the snapshot after the opening deliveries: built
// unstocked, then every outlet stocked by changes in batches of 2,000 in code
// order (the ledger's bulk chunk): every entry made by a change, as in a
// live server after a load (a restarted one builds its snapshot, entries in
// rehome's slabs). It reports the heap objects an outlet, the CPU of a
// forced collection and the CPU of a storesByGeo answer's core (Near,
// Gather, AppendV1) at random points of central Seoul at the radius of
// bench-scale.sh.
//
//	go test ./snapshot -run '^$' -bench 'Delivered' -benchtime 100000x -count 2
func BenchmarkDelivered(b *testing.B) {
	for _, n := range []int{26_263, 540_000} {
		b.Run(fmt.Sprintf("outlets=%d", n), func(b *testing.B) {
			s := deliver(n)
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			best := time.Duration(1 << 62)
			for range 3 {
				cpu0 := cpuTime()
				runtime.GC()
				best = min(best, cpuTime()-cpu0)
			}
			answerCore(b, s, n)
			b.ReportMetric(float64(ms.HeapObjects)/float64(n), "objects/outlet")
			b.ReportMetric(float64(best.Microseconds())/1000, "gc-cpu-ms")
			runtime.KeepAlive(s)
		})
	}
}

// delivered returns the snapshot of n outlets stocked by batches of 2,000
// changes in code order after the build (BenchmarkDelivered's), made once
// per process.
func delivered(n int) *Snapshot {
	deliveredMu.Lock()
	defer deliveredMu.Unlock()
	if s, ok := deliveredCache[n]; ok {
		return s
	}
	s := deliver(n)
	deliveredCache[n] = s
	return s
}

// deliver builds the snapshot of n generated outlets and stocks them by
// batches of 2,000 changes in code order, as the opening deliveries do.
func deliver(n int) *Snapshot {
	outlets := seed.Outlets(seed.Options{Seed: 2020, Count: n})
	for i := range outlets {
		outlets[i].Version = int64(i + 1)
	}
	s := build(outlets, int64(n), t0)
	slices.SortFunc(outlets, func(a, b publicmask.Outlet) int { return strings.Compare(a.Code, b.Code) })
	v := int64(n)
	for start := 0; start < n; start += 2000 {
		list := slices.Clone(outlets[start:min(start+2000, n)])
		for i := range list {
			v++
			list[i].Stock, list[i].StockAt, list[i].UpdatedAt, list[i].Version = 100+i%150, t0, t0, v
		}
		s, _ = s.apply(list, t0)
	}
	return s
}

var (
	deliveredMu    sync.Mutex
	deliveredCache = map[int]*Snapshot{}
)

// BenchmarkDeliveredAB is BenchmarkDelivered's answer core in pairs: the
// same delivered snapshots (both sizes), each variant of a switch measured
// in turn, round after round, so that the machine's load falls on both
// alike. Compare the medians per variant of the 540,000/26,263 ratios.
//
//	go test ./snapshot -run '^$' -bench 'DeliveredAB' -benchtime 50000x
func BenchmarkDeliveredAB(b *testing.B) {
	for round := range abRounds {
		for _, v := range abVariants {
			for _, n := range []int{26_263, 540_000} {
				b.Run(fmt.Sprintf("round=%d/v=%s/outlets=%d", round, v.name, n), func(b *testing.B) {
					defer func() { gatherTouch = true }()
					gatherTouch = v.touch
					s := delivered(n)
					if v.compact > 0 {
						s = compacted(n, v.compact == 2)
					}
					answerCore(b, s, n)
				})
			}
		}
	}
}

var abVariants = []struct {
	name    string
	touch   bool
	compact int // 1: entries in grid order, 2: and their text
}{{"main", false, 0}, {"touch", true, 0}, {"compact", false, 1}, {"compact+text", false, 2}, {"compact+text+touch", true, 2}}

// compacted is compactedCopy of delivered(n), made once per process.
func compacted(n int, text bool) *Snapshot {
	deliveredMu.Lock()
	s, ok := compactedCache[compactKey{n, text}]
	deliveredMu.Unlock()
	if ok {
		return s
	}
	s = compactedCopy(delivered(n), text)
	deliveredMu.Lock()
	compactedCache[compactKey{n, text}] = s
	deliveredMu.Unlock()
	return s
}

type compactKey struct {
	n    int
	text bool
}

var compactedCache = map[compactKey]*Snapshot{}

// abRounds is the number of rounds of BenchmarkDeliveredAB.
var abRounds = 30

// benchPoint is a point of central Seoul.
type benchPoint struct{ lat, lng float64 }

// answerPoints are the radius of bench-scale.sh for n outlets (an answer
// of as many outlets as m=1000 gives for 26,263) and 512 random points of
// central Seoul, the same for every run.
func answerPoints(n int) (float64, []benchPoint) {
	rng := rand.New(rand.NewPCG(2020, 1))
	pts := make([]benchPoint, 512)
	for i := range pts {
		pts[i] = benchPoint{37.50 + rng.Float64()*0.10, 126.92 + rng.Float64()*0.14}
	}
	return max(50, 1000*math.Sqrt(26_263/float64(n))), pts
}

// answerCore measures Near, Gather and AppendV1 at 512 random points of
// central Seoul at the radius of bench-scale.sh for n outlets.
func answerCore(b *testing.B, s *Snapshot, n int) {
	m, pts := answerPoints(n)
	var hits []Hit
	var es []*Entry
	var buf []byte
	b.ResetTimer()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		p := pts[i%len(pts)]
		hits = s.Near(p.lat, p.lng, m, hits[:0])
		var size int
		es, size = s.Gather(hits, es[:0])
		buf = slices.Grow(buf[:0], size)
		for _, e := range es {
			buf = e.AppendV1(buf)
		}
		i++
		if abSysCall {
			syscall.Getppid()
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// abSysCall makes answerCore enter the kernel once between answers, as a
// server's reads and writes do (BenchmarkRunsAB): on this machine (no
// PCID) every entry flushes the TLB, so an answer starts with none of its
// pages translated.
var abSysCall bool

// compactedCopy is s with its entries copied in the order of its geo
// grid into slabs of slabEntries (and, with text, their registry text into
// blocks in the same order): what a compaction of the whole read model
// would lay out (BenchmarkDeliveredAB's upper bound for one; not the
// server's code).
func compactedCopy(s *Snapshot, text bool) *Snapshot {
	ns := s.confirmed(s.asOf)
	g := s.reg.geo
	var slab []Entry
	var block []byte
	for _, p := range g.idx {
		if len(slab) == 0 {
			slab = make([]Entry, slabEntries)
		}
		e := &slab[0]
		slab = slab[1:]
		*e = *s.At(int(p))
		if text {
			if cap(block)-len(block) < len(e.reg) {
				block = make([]byte, 0, 64<<10)
			}
			at := len(block)
			block = append(block, e.reg...)
			e.reg = unsafe.String(&block[at], len(e.reg))
		}
		ns.set(s, int(p), e)
	}
	return ns
}
