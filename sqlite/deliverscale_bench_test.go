//go:build unix

package sqlite_test

import (
	"context"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDeliverScale is the opening deliveries alone, the ledger's and
// the store's share (no HTTP, no snapshot): BENCH_DELIVER_OUTLETS outlets
// (default 100,000) imported untimed, then delivered in lists of 50,000 as
// scripts/load.py sends them. Per line: CPU of the process (steadier than
// wall time on a shared machine), ns and allocations:
// `BENCH_DELIVER_OUTLETS=540000 go test ./sqlite -run '^$' -bench DeliverScale -benchtime 1x -benchmem`.
func BenchmarkDeliverScale(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_DELIVER_OUTLETS")); err == nil {
		n = v
	}
	ctx := context.Background()
	outlets, lines := bulkRegistry(n)
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		s, l := bulkLedger(b)
		for lo := 0; lo < n; lo += 100_000 {
			if _, err := l.ImportOutlets(ctx, outlets[lo:min(lo+100_000, n)]); err != nil {
				b.Fatal(err)
			}
		}
		c0 := processCPU()
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
		l.Close(ctx)
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/line")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/line")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
