package postgres

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask/clock"
	"github.com/publicmask/publicmask/internal/procstat"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
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

// BenchmarkSaleBatches sells batches of exactly k sales (one writer,
// MaxBatch k, 2k sellers, so k requests are always queued when the writer
// takes a batch): with PUBLICMASK_BENCH_PG_PID set, PostgreSQL's CPU a sale
// at each k separates its fixed cost a batch from its cost a sale. The
// grown case first sells 80,000 sales over 5,000 outlets (untimed, batches
// of up to 64), as the 1,500/s step of scripts/bench-pg.sh runs after its
// capacity rush: the same batches on tables of that size. writers=4 runs
// four such batches at once (the step's two nodes of two writers each).
func BenchmarkSaleBatches(b *testing.B) {
	for _, k := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) { saleBatches(b, k, 1, 200, 0) })
	}
	b.Run("grown/k=2", func(b *testing.B) { saleBatches(b, 2, 1, 5000, 80000) })
	b.Run("writers=4/k=2", func(b *testing.B) { saleBatches(b, 2, 4, 200, 0) })
	for _, rate := range []int{1500, 6000} {
		b.Run(fmt.Sprintf("paced=%d/writers=4", rate), func(b *testing.B) { pacedSales(b, rate) })
	}
}

// pacedSales offers sales at a fixed rate (a request every 1/rate, each in
// its own goroutine) to a ledger with four writers and the default batch
// bound, as the 1,500/s step's open-loop arrivals do, rather than keeping
// the writers saturated: PostgreSQL's CPU a sale and the sales a batch.
func pacedSales(b *testing.B, rate int) {
	s := openTest(b, Options{MaxConns: 8})
	keyer, _ := rrntest.Keyer(b)
	reg := prometheus.NewRegistry()
	l, err := ledger.New(ledger.Config{
		Store: s, Policy: policy.NewHolder(policy.Standard()), Keyer: keyer, Clock: clock.NewManual(testenv.Start),
		Writers: 4, Registerer: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close(context.Background()) })
	codes := setupOutlets(b, l, 200, 100000)
	ctx := context.Background()
	pm := os.Getenv("PUBLICMASK_BENCH_PG_PID")
	batches0 := batchCount(b, reg)
	b.ResetTimer()
	cpu0 := childrenCPU(b, pm)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range b.N {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
		wg.Go(func() {
			if _, _, err := l.Sell(ctx, ledger.SaleRequest{Outlet: codes[i%len(codes)], TxnID: fmt.Sprintf("p-%d", i), Buyer: buyerID(i), Quantity: 2}); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	cpu1 := childrenCPU(b, pm)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/(batchCount(b, reg)-batches0), "sales/batch")
	if pm != "" {
		b.ReportMetric((cpu1-cpu0)*1e6/float64(b.N), "pg-µs/sale")
	}
}

// batchCount is the ledger's batches so far (publicmask_ledger_batch_size's count).
func batchCount(b *testing.B, reg *prometheus.Registry) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "publicmask_ledger_batch_size" && len(mf.GetMetric()) > 0 {
			return float64(mf.GetMetric()[0].GetHistogram().GetSampleCount())
		}
	}
	b.Fatal("no publicmask_ledger_batch_size")
	return 0
}

func saleBatches(b *testing.B, k, writers, outlets, preload int) {
	s := openTest(b, Options{MaxConns: 8})
	keyer, _ := rrntest.Keyer(b)
	newL := func(maxBatch, writers int) *ledger.Ledger {
		l, err := ledger.New(ledger.Config{
			Store: s, Policy: policy.NewHolder(policy.Standard()), Keyer: keyer, Clock: clock.NewManual(testenv.Start),
			Writers: writers, MaxBatch: maxBatch, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			b.Fatal(err)
		}
		return l
	}
	ctx := context.Background()
	sell := func(l *ledger.Ledger, codes []string, sellers, from, to int) {
		var next atomic.Int64
		next.Store(int64(from))
		var wg sync.WaitGroup
		for range sellers {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= to {
						return
					}
					if _, _, err := l.Sell(ctx, ledger.SaleRequest{Outlet: codes[i%len(codes)], TxnID: fmt.Sprintf("k-%d", i), Buyer: buyerID(i), Quantity: 2}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	pre := newL(64, 2)
	codes := setupOutlets(b, pre, outlets, 100000)
	sell(pre, codes, 128, 0, preload)
	pre.Close(ctx)
	l := newL(k, writers)
	b.Cleanup(func() { l.Close(context.Background()) })
	pm := os.Getenv("PUBLICMASK_BENCH_PG_PID")
	b.ResetTimer()
	cpu0 := childrenCPU(b, pm)
	sell(l, codes, 2*k*writers, preload, preload+b.N)
	cpu1 := childrenCPU(b, pm)
	b.StopTimer()
	if pm != "" {
		b.ReportMetric((cpu1-cpu0)*1e6/float64(b.N), "pg-µs/sale")
	}
}

// BenchmarkTokenLookups reads two tokens a call among 5,000, as a ledger node
// does for the tokens it has not seen yet (bench-pg.sh's 1,500/s step: ~6,700
// look-ups of 1.5 hashes). With PUBLICMASK_BENCH_PG_PID set it reports
// PostgreSQL's CPU a look-up.
func BenchmarkTokenLookups(b *testing.B) {
	s := openTest(b, Options{MaxConns: 2})
	ctx := context.Background()
	at := time.Date(2020, 3, 11, 0, 0, 0, 0, time.UTC)
	const n = 5000
	hashes := make([]string, n)
	for i := range hashes {
		hashes[i] = fmt.Sprintf("%064x", i)
	}
	putTokens(b, s, at, hashes...)
	pm := os.Getenv("PUBLICMASK_BENCH_PG_PID")
	b.ResetTimer()
	cpu0 := childrenCPU(b, pm)
	for i := range b.N {
		got, err := s.Tokens(ctx, []string{hashes[(2*i)%n], hashes[(2*i+1)%n]})
		if err != nil || len(got) != 2 {
			b.Fatal(len(got), err)
		}
	}
	cpu1 := childrenCPU(b, pm)
	b.StopTimer()
	if pm != "" {
		b.ReportMetric((cpu1-cpu0)*1e6/float64(b.N), "pg-µs/lookup")
	}
}
