//go:build unix

package sqlite_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/publicmask/publicmask"
)

// BenchmarkImportScale is the import alone, the ledger's and the store's
// share (no HTTP, no snapshot): BENCH_IMPORT_OUTLETS outlets (default
// 100,000) imported into a fresh store in bodies of 100,000 as
// scripts/load.py sends them. Per outlet: CPU of the process (steadier
// than wall time on a shared machine), ns and allocations:
// `BENCH_IMPORT_OUTLETS=540000 go test ./sqlite -run '^$' -bench ImportScale -benchtime 1x -benchmem`;
// BENCH_IMPORT_ORDER=code sorts the outlets by code before they are cut
// into bodies (load.py's default).
func BenchmarkImportScale(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_IMPORT_OUTLETS")); err == nil {
		n = v
	}
	ctx := context.Background()
	outlets, _ := bulkRegistry(n)
	if os.Getenv("BENCH_IMPORT_ORDER") == "code" { // the bodies cut from the outlets in code order, as load.py cuts them
		slices.SortFunc(outlets, func(a, b publicmask.Outlet) int { return strings.Compare(a.Code, b.Code) })
	}
	var cpu int64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		s, l := bulkLedger(b)
		c0 := processCPU()
		b.StartTimer()
		for lo := 0; lo < n; lo += 100_000 {
			part := outlets[lo:min(lo+100_000, n)]
			if got, err := l.ImportOutlets(ctx, part); err != nil || got != len(part) {
				b.Fatalf("import: %d, %v", got, err)
			}
		}
		b.StopTimer()
		cpu += int64(processCPU() - c0)
		l.Close(ctx)
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu)/float64(b.N*n), "cpu-ns/outlet")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/outlet")
}
