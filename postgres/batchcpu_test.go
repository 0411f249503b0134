package postgres

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/publicmask/publicmask/clock"
	"github.com/publicmask/publicmask/internal/procstat"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/rrn/rrntest"
)

// BenchmarkOneSaleBatches sells one sale at a time through a ledger with one
// writer, so every batch is one sale: PostgreSQL's fixed cost a batch,
// without the batch size the load chooses. With PUBLICMASK_BENCH_PG_PID set
// to the postmaster of a cluster nothing else uses, it reports the CPU its
// children used a batch (from /proc; 10 ms ticks, so run a few thousand).
//
//	PUBLICMASK_BENCH_PG_PID=$(head -1 DATA/postmaster.pid) go test ./postgres -run '^$' -bench OneSaleBatches -benchtime 4000x
func BenchmarkOneSaleBatches(b *testing.B) {
	s := openTest(b, Options{MaxConns: 5})
	keyer, _ := rrntest.Keyer(b)
	l := newLedger(b, s, keyer, clock.NewManual(testenv.Start), 1)
	codes := setupOutlets(b, l, 200, 100000)
	ctx := context.Background()
	pm := os.Getenv("PUBLICMASK_BENCH_PG_PID")
	b.ResetTimer()
	cpu0 := childrenCPU(b, pm)
	for i := range b.N {
		if _, _, err := l.Sell(ctx, ledger.SaleRequest{Outlet: codes[i%len(codes)], TxnID: fmt.Sprintf("one-%d", i), Buyer: buyerID(i), Quantity: 2}); err != nil {
			b.Fatal(err)
		}
	}
	cpu1 := childrenCPU(b, pm)
	b.StopTimer()
	if pm != "" {
		b.ReportMetric((cpu1-cpu0)*1e6/float64(b.N), "pg-µs/batch")
	}
}

// childrenCPU is the CPU seconds (user + system) of pm's live children.
func childrenCPU(b *testing.B, pm string) float64 {
	if pm == "" {
		return 0
	}
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		b.Fatal(err)
	}
	var cpu float64
	for _, d := range dirs {
		if st, err := procstat.Read(d.Name()); err == nil && strconv.Itoa(st.PPID) == pm {
			cpu += st.CPU
		}
	}
	return cpu
}
