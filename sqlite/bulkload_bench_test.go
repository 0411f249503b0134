package sqlite_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/clock"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/rrn/rrntest"
	"github.com/publicmask/publicmask/sqlite"
)

// BenchmarkBulkLoad is the ledger's share of loading a registry, without
// HTTP or the snapshot: an import of 20,000 outlets in one call, then their
// opening deliveries in one list, into a fresh SQLite store. Per outlet:
// ns (import and deliveries together) and allocations, the load-insensitive
// figure: `go test ./sqlite -run '^$' -bench BulkLoad -benchmem`.
func BenchmarkBulkLoad(b *testing.B) {
	const n = 20_000
	ctx := context.Background()
	outlets, lines := bulkRegistry(n)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		s, l := bulkLedger(b)
		b.StartTimer()
		if got, err := l.ImportOutlets(ctx, outlets); err != nil || got != n {
			b.Fatalf("import: %d, %v", got, err)
		}
		res, err := l.DeliverMany(ctx, lines)
		if err != nil || res[n-1].Receipt == nil {
			b.Fatalf("deliveries: %v", err)
		}
		b.StopTimer()
		l.Close(ctx)
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/outlet")
}

// bulkRegistry is n generated outlets (distinct codes, addresses that parse)
// and an opening delivery for each, as scripts/load.py sends them.
func bulkRegistry(n int) ([]publicmask.Outlet, []ledger.DeliveryRequest) {
	outlets := make([]publicmask.Outlet, n)
	lines := make([]ledger.DeliveryRequest, n)
	for i := range outlets {
		code := fmt.Sprintf("%08d", (i*7919+13)%100_000_000)
		outlets[i] = publicmask.Outlet{Code: code, Name: "사랑약국", Addr: fmt.Sprintf("서울특별시 종로구 한빛로 %d (청운동)", i), Type: publicmask.TypePharmacy, Lat: 37.5 + float64(i)/1e6, Lng: 127}
		lines[i] = ledger.DeliveryRequest{Outlet: code, Quantity: 500, TxnID: "open-" + code}
	}
	return outlets, lines
}

// bulkLedger is a ledger over a fresh SQLite store, as the server runs it
// (two writers, the first rotation morning's clock); the caller closes both.
func bulkLedger(b *testing.B) (*sqlite.Store, *ledger.Ledger) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "pm.db"))
	if err != nil {
		b.Fatal(err)
	}
	keyer, _ := rrntest.Keyer(b)
	l, err := ledger.New(ledger.Config{Store: s, Policy: policy.NewHolder(policy.Standard()), Keyer: keyer,
		Clock: clock.NewManual(time.Date(2020, 3, 11, 8, 0, 0, 0, publicmask.Seoul)), Writers: 2,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	return s, l
}

// BenchmarkBulkImport is the ledger's share of one import body
// (scripts/load.py's 100,000 rows) into a fresh SQLite store, without HTTP
// or the snapshot: `go test ./sqlite -run '^$' -bench BulkImport -benchmem`.
func BenchmarkBulkImport(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	outlets, _ := bulkRegistry(n)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		s, l := bulkLedger(b)
		b.StartTimer()
		if got, err := l.ImportOutlets(ctx, outlets); err != nil || got != n {
			b.Fatalf("import: %d, %v", got, err)
		}
		b.StopTimer()
		l.Close(ctx)
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/outlet")
}
