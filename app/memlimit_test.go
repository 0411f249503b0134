package app

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryLimitFor(t *testing.T) {
	const base = 192 << 20
	for _, c := range []struct {
		outlets int
		want    int64
	}{
		{0, base},
		{nationalOutlets, base},
		{nationalOutlets + 1, base + perOutletAllowance},
		{540_000, base + (540_000-nationalOutlets)*perOutletAllowance},
	} {
		if got := memoryLimitFor(base, c.outlets); got != c.want {
			t.Errorf("%d outlets: %d, want %d", c.outlets, got, c.want)
		}
	}
}

// A load of several bodies releases its memory once, after the last body,
// and each body's done still reports its own result.
func TestReleaseAfterBulk(t *testing.T) {
	var released, ended atomic.Int32
	boom := errors.New("boom")
	bulk := func() func(context.Context) error {
		return func(context.Context) error {
			if ended.Add(1) == 2 {
				return boom
			}
			return nil
		}
	}
	wrapped := releaseAfterBulk(bulk, func() { released.Add(1) })
	start := time.Now()
	for i := range 3 {
		err := wrapped()(context.Background())
		if (i == 1) != (err == boom) {
			t.Fatalf("body %d: err %v", i, err)
		}
	}
	for released.Load() == 0 {
		if time.Since(start) > 10*time.Second {
			t.Fatal("memory never released after the bulk writes")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if time.Since(start) < bulkQuiet {
		t.Fatal("released before the bulk writes were quiet")
	}
	time.Sleep(2 * bulkQuiet)
	if n := released.Load(); n != 1 {
		t.Fatalf("released %d times, want once", n)
	}
}
