package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// BenchmarkSaleBatch writes sales as the ledger's group commit does (the
// batch's txn_ids prefetched, then per sale: the outlet, the person's week,
// the txn_id claimed, the person's new week, the sale, the outlet's new
// stock), in transactions of a fixed number of sales, at each page size a
// new store may have. The txn_ids are taken as the ledger takes them
// (Prefetch, then ClaimIdempotency): looked up and found absent, so that
// the flush does not read them again (checkNewRecords), as in service. It reports the
// process's CPU and the WAL bytes per sale (the checkpointer is stopped,
// so the WAL only grows), figures that neither the batch sizes a rush
// happens to form nor the machine's load sway. Run with -benchtime=8000x
// or so: each sale adds 2–30 KB of WAL.
func BenchmarkSaleBatch(b *testing.B) {
	for _, size := range []int{1024, 2048, 4096} {
		for _, batch := range []int{32, 256} {
			b.Run(fmt.Sprintf("page=%d/batch=%d", size, batch), func(b *testing.B) {
				benchSaleBatch(b, size, batch)
			})
		}
	}
}

// BenchmarkSaleBatchWALWrites compares the writer's WAL written through
// walBufVFS (one write per commit) with SQLite's own two writes per frame:
// CPU and write syscalls (/proc/self/io syscw) per sale. The two run one
// after the other per -count round, so that a loaded machine weighs on
// both alike:
//
//	go test ./sqlite -run '^$' -bench SaleBatchWALWrites -benchtime 6000x -count 5
func BenchmarkSaleBatchWALWrites(b *testing.B) {
	for _, buffered := range []bool{false, true} {
		b.Run(fmt.Sprintf("buffered=%v", buffered), func(b *testing.B) {
			defer func(v bool) { walBuffered = v }(walBuffered)
			walBuffered = buffered
			benchSaleBatch(b, chosenPageSize, 64)
		})
	}
}

func benchSaleBatch(b *testing.B, size, batch int) {
	ctx := context.Background()
	defer func(v int) { newPageSize = v }(newPageSize)
	newPageSize = size
	path := filepath.Join(b.TempDir(), "pm.db")
	s, err := Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const nOutlets = 26263 // as the demo store (the national registry)
	code := func(i int) string { return fmt.Sprintf("1%07d", i) }
	if err := s.Write(ctx, func(tx publicmask.Tx) error {
		for i := range nOutlets {
			o := &publicmask.Outlet{Code: code(i), Name: "약국", Addr: "서울특별시 중구 세종대로 110", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127, Stock: 1 << 30, StockAt: tRec, UpdatedAt: tRec}
			if err := tx.SaveOutlet(o); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	ckpt := os.Getenv("BENCH_CHECKPOINT") != "" // the background checkpoints as in service (no WAL figure)
	if !ckpt {
		s.ckpt.cancel() // the WAL only grows from here: its length is what was written
		<-s.ckpt.done
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const week = "2020-03-09"
	n := 0
	sell := func(tx publicmask.Tx, outlets map[string]*publicmask.Outlet, c, id string) error {
		o, ok := outlets[c]
		if !ok {
			lo, err := tx.LockOutlet(c)
			if err != nil {
				return err
			}
			o = &lo
			outlets[c] = o
		}
		person := fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
		usage, err := tx.PersonWeeks(week, []string{person})
		if err != nil {
			return err
		}
		pw := usage[person]
		pw.Person, pw.Week = person, week
		pw.Add(2, false)
		sl := &publicmask.Sale{ID: id, Outlet: c, TxnID: "txn-" + id, SoldAt: tRec, RecordedAt: tRec, Week: week, Quantity: 2,
			Items: []publicmask.SaleItem{{Role: "buyer", Person: person, BirthYear: 1983, Quantity: 2}}}
		receipt := fmt.Sprintf(`{"sale_id":%q,"outlet":{"code":%q,"stock":%d,"remain_stat":"plenty"},"quantity":2,"week":%q,"sold_at":"2020-03-11T10:00:00+09:00","items":[{"role":"buyer","birth_year":1983,"quantity":2}]}`, id, c, o.Stock-2, week)
		if _, claimed, err := tx.(publicmask.IdemClaimer).ClaimIdempotency(publicmask.IdemRecord{Outlet: c, TxnID: sl.TxnID, BodyHash: bodyHash(id), Response: []byte(receipt), CreatedAt: tRec}); err != nil {
			return err
		} else if !claimed {
			return fmt.Errorf("txn_id %s/%s claimed before", c, sl.TxnID)
		}
		if err := tx.PutPersonWeek(pw); err != nil {
			return err
		}
		if err := tx.InsertSale(sl); err != nil {
			return err
		}
		o.Stock -= 2
		o.Sold += 2
		o.UpdatedAt = tRec
		o.Version = 0
		return tx.SaveOutlet(o)
	}
	wal0 := walSize(b, path)
	b.ResetTimer()
	w0 := selfSyscw(b)
	cpu0 := selfCPU()
	for done := 0; done < b.N; {
		k := min(batch, b.N-done)
		if err := s.Write(ctx, func(tx publicmask.Tx) error {
			outlets := make(map[string]*publicmask.Outlet, k)
			keys := make([]publicmask.IdemKey, k)
			for j := range keys {
				n++
				id := fmt.Sprintf("s%09d", n)
				keys[j] = publicmask.IdemKey{Outlet: code(rng.IntN(nOutlets)), TxnID: "txn-" + id}
			}
			if err := tx.(publicmask.Prefetcher).Prefetch(publicmask.BatchReads{Idem: keys}); err != nil {
				return err
			}
			for _, k := range keys {
				if err := sell(tx, outlets, k.Outlet, strings.TrimPrefix(k.TxnID, "txn-")); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		done += k
	}
	cpu := selfCPU() - cpu0
	w := selfSyscw(b) - w0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/sale")
	b.ReportMetric(float64(w)/float64(b.N), "syscw/sale")
	if !ckpt {
		b.ReportMetric(float64(walSize(b, path)-wal0)/float64(b.N), "wal-B/sale")
	}
}

// bodyHash is a body hash as the ledger makes it: SHA-256 in lower-case
// hexadecimal (here of the sale's id).
func bodyHash(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

func walSize(b *testing.B, path string) int64 {
	st, err := os.Stat(path + "-wal")
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// selfSyscw is the write syscalls this process made (/proc/self/io), 0
// where there is no such file.
func selfSyscw(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	return 0
}

// BenchmarkSaleBatchSmall is BenchmarkSaleBatch at the batch size of a
// rush below capacity (5–6 sales a commit): the fixed cost of a
// transaction, its commit and its flush, per sale.
//
//	go test ./sqlite -run '^$' -bench SaleBatchSmall -benchtime 6000x -count 5
func BenchmarkSaleBatchSmall(b *testing.B) {
	benchSaleBatch(b, chosenPageSize, 6)
}
