//go:build unix

package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// TestWALFramesPerSale counts the WAL frames (pages) that durable sales
// write, per sale, at fixed batch sizes: the load-independent figure
// behind the disk's write volume (BENCHMARKS.md). A store with the demo's
// number of outlets and 30,000 sales already recorded, then batches of
// sales as the ledger writes them (record, person-week, sale and item,
// the outlet's stock), each at a random outlet for a new person; the
// background checkpoint is stopped so that the WAL's length counts every
// frame. The process's CPU time per sale (user and system, over the
// batches) is printed beside. A measurement, run on demand:
//
//	PUBLICMASK_WALFRAMES=1 go test ./sqlite -run TestWALFramesPerSale -v
func TestWALFramesPerSale(t *testing.T) {
	if os.Getenv("PUBLICMASK_WALFRAMES") == "" {
		t.Skip("a measurement: set PUBLICMASK_WALFRAMES=1")
	}
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "pm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stopBackgroundCheckpoints(s)
	const outlets = 26263
	var os []*publicmask.Outlet
	for i := range outlets {
		os = append(os, &publicmask.Outlet{Code: fmt.Sprintf("1%07d", i), Name: fmt.Sprintf("온누리약국 %d호점", i),
			Addr: "서울특별시 강북구 솔매로 38 (미아동)", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127, Stock: 1 << 30})
	}
	if err := s.Write(ctx, func(tx publicmask.Tx) error { return tx.(publicmask.BulkTx).SaveOutlets(os) }); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2020, 3))
	n := 0
	at := time.Date(2020, 3, 11, 0, 0, 0, 0, time.UTC)
	batch := func(size int) {
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			for range size {
				n++
				code := fmt.Sprintf("1%07d", rng.IntN(outlets))
				person := fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
				id := fmt.Sprintf("s%012d", n)
				sl := &publicmask.Sale{ID: id, Outlet: code, TxnID: fmt.Sprintf("t-%x", rng.Uint64()), SoldAt: at, RecordedAt: at, Week: "2020-03-09", Quantity: 2,
					Items: []publicmask.SaleItem{{Role: "buyer", Person: person, BirthYear: 1983, Quantity: 2}}}
				rec := publicmask.IdemRecord{Outlet: code, TxnID: sl.TxnID, BodyHash: strings.Repeat("h", 64), CreatedAt: at,
					Response: []byte(`{"sale_id":"` + id + `","sold_at":"2020-03-11T09:00:00+09:00","items":[{"role":"buyer","quantity":2,"remaining_this_week":0}],"outlet":{"stock":100,"remain_stat":"plenty"}}`)}
				o, err := tx.LockOutlet(code)
				if err != nil {
					return err
				}
				if _, err := tx.PersonWeeks(sl.Week, []string{person}); err != nil {
					return err
				}
				if err := tx.PutIdempotency(rec); err != nil {
					return err
				}
				if err := tx.PutPersonWeek(publicmask.PersonWeek{Person: person, Week: sl.Week, Usage: publicmask.Usage{Quantity: 2, Purchases: 1, WeekdayPurchases: 1}}); err != nil {
					return err
				}
				if err := tx.InsertSale(sl); err != nil {
					return err
				}
				o.Stock -= 2
				o.Sold += 2
				o.UpdatedAt = at
				if err := tx.SaveOutlet(&o); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 300 {
		batch(100)
	}
	// frames copies the WAL into the database: the next commit starts the
	// WAL over, so the count after a series is that series' frames.
	frames := func() int {
		f, c, err := s.ckpt.passive(ctx)
		if err != nil || f != c {
			t.Fatalf("checkpoint: %d of %d frames, %v", c, f, err)
		}
		return f
	}
	for _, size := range []int{10, 30, 100, 300} {
		frames()
		batches := 6000 / size
		c0 := cpuTime()
		for range batches {
			batch(size)
		}
		cpu := cpuTime() - c0
		f := frames()
		fmt.Printf("WALFRAMES batch=%d sales=%d frames=%d per_sale=%.2f per_batch=%.1f cpu_us_per_sale=%.1f\n", size, size*batches, f,
			float64(f)/float64(size*batches), float64(f)/float64(batches), float64(cpu.Microseconds())/float64(size*batches))
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
