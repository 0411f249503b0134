//go:build unix

package sqlite_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/clock"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/rrn/rrntest"
	"github.com/publicmask/publicmask/sqlite"
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
	outlets := make([]publicmask.Outlet, n)
	lines := make([]ledger.DeliveryRequest, n)
	for i := range outlets {
		code := fmt.Sprintf("%08d", (i*7919+13)%100_000_000)
		outlets[i] = publicmask.Outlet{Code: code, Name: "사랑약국", Addr: fmt.Sprintf("서울특별시 종로구 한빛로 %d (청운동)", i), Type: publicmask.TypePharmacy, Lat: 37.5 + float64(i)/1e6, Lng: 127}
		lines[i] = ledger.DeliveryRequest{Outlet: code, Quantity: 500, TxnID: "open-" + code}
	}
	keyer, _ := rrntest.Keyer(b)
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "pm.db"))
		if err != nil {
			b.Fatal(err)
		}
		l, err := ledger.New(ledger.Config{Store: s, Policy: policy.NewHolder(policy.Standard()), Keyer: keyer,
			Clock: clock.NewManual(time.Date(2020, 3, 11, 8, 0, 0, 0, publicmask.Seoul)), Writers: 2,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
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
