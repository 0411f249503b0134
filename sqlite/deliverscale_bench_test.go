//go:build unix

package sqlite_test

import (
	"context"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/ledger"
)

// BenchmarkDeliverScale is the opening deliveries alone, the ledger's and
// the store's share (no HTTP, no snapshot): BENCH_DELIVER_OUTLETS outlets
// (default 100,000) imported untimed, then delivered in lists of 50,000 as
// scripts/load.py sends them. Per line: CPU of the process (steadier than
// wall time on a shared machine), ns and allocations:
// `BENCH_DELIVER_OUTLETS=540000 go test ./sqlite -run '^$' -bench DeliverScale -benchtime 1x -benchmem`;
// BENCH_DELIVER_CPUPROFILE=FILE writes a CPU profile of the deliveries alone;
// written-B/line is what the process wrote to storage during them.
// BENCH_DELIVER_ORDER=code sorts the lines by outlet code before they are
// cut into lists, as scripts/load.py does by default (otherwise they come in
// the registry's order, which is not the codes'); BENCH_IMPORT_ORDER=code
// does the same for the import's bodies (load.py's default too).
// import-cpu-ns/outlet and import-written-B/outlet are the untimed import's.
func BenchmarkDeliverScale(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_DELIVER_OUTLETS")); err == nil {
		n = v
	}
	ctx := context.Background()
	outlets, lines := bulkRegistry(n)
	if os.Getenv("BENCH_DELIVER_ORDER") == "code" {
		slices.SortFunc(lines, func(a, b ledger.DeliveryRequest) int { return strings.Compare(a.Outlet, b.Outlet) })
	}
	if os.Getenv("BENCH_IMPORT_ORDER") == "code" { // the import's bodies cut from the outlets in code order
		slices.SortFunc(outlets, func(a, b publicmask.Outlet) int { return strings.Compare(a.Code, b.Code) })
	}
	var cpu, icpu time.Duration
	var written, iwritten int64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		s, l := bulkLedger(b)
		ic0, iw0 := processCPU(), writtenBytes()
		for lo := 0; lo < n; lo += 100_000 {
			if _, err := l.ImportOutlets(ctx, outlets[lo:min(lo+100_000, n)]); err != nil {
				b.Fatal(err)
			}
		}
		icpu += processCPU() - ic0
		iwritten += writtenBytes() - iw0
		c0, w0 := processCPU(), writtenBytes()
		if f := os.Getenv("BENCH_DELIVER_CPUPROFILE"); f != "" {
			out, err := os.Create(f)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(out); err != nil {
				b.Fatal(err)
			}
			defer out.Close()
		}
		b.StartTimer()
		for lo := 0; lo < n; lo += 50_000 {
			part := lines[lo:min(lo+50_000, n)]
			res, err := l.DeliverMany(ctx, part)
			if err != nil || res[len(part)-1].Receipt == nil {
				b.Fatalf("deliveries: %v", err)
			}
		}
		b.StopTimer()
		cpu += processCPU() - c0
		written += writtenBytes() - w0
		pprof.StopCPUProfile()
		l.Close(ctx)
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/line")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/line")
	if written >= 0 {
		b.ReportMetric(float64(written)/float64(b.N*n), "written-B/line")
	}
	// The untimed import before them, for the order's effect on it.
	b.ReportMetric(float64(icpu.Nanoseconds())/float64(b.N*n), "import-cpu-ns/outlet")
	if iwritten >= 0 {
		b.ReportMetric(float64(iwritten)/float64(b.N*n), "import-written-B/outlet")
	}
}

// writtenBytes is what the process has caused to be written to storage
// (write_bytes of /proc/self/io: the WAL, the checkpoints), -1 where it
// cannot be read.
func writtenBytes() int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
