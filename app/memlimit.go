package app

import (
	"context"
	"log/slog"
	"math"
	"runtime/debug"
	"sync"
	"time"
)

// The soft memory limit (--memory-limit, or GOMEMLIMIT) is sized for the
// national registry. With 540,000 outlets the live heap is about 850 bytes
// per outlet (the snapshot's entries, their registry text and indexes;
// BENCHMARKS.md "Scale"), so a larger registry raises the limit by 1 KiB per
// outlet beyond the national count: otherwise half a million outlets alone
// would exceed the limit, and the collector would run back to back (every
// commit, delivery and answer paying for it).
const (
	nationalOutlets    = 26_263
	perOutletAllowance = 1024
)

var memBase struct {
	once  sync.Once
	limit int64 // the limit set at start; MaxInt64 = none
}

// memoryForOutlets returns the snapshot's OnResize hook: it sets the soft
// memory limit to the one set at start plus the allowance for the outlets
// beyond the national count. Without a limit it does nothing.
func memoryForOutlets(log *slog.Logger) func(outlets int) {
	memBase.once.Do(func() { memBase.limit = debug.SetMemoryLimit(-1) })
	return func(outlets int) {
		if memBase.limit == math.MaxInt64 {
			return
		}
		limit := memoryLimitFor(memBase.limit, outlets)
		if old := debug.SetMemoryLimit(limit); old != limit {
			log.Info("memory limit follows the registry", "outlets", outlets, "limit_mib", limit>>20)
		}
	}
}

func memoryLimitFor(base int64, outlets int) int64 {
	return base + int64(max(0, outlets-nationalOutlets))*perOutletAllowance
}

// releaseAfterBulk wraps the refresher's Bulk: once no bulk write (an import,
// a delivery list) has run for a moment, the memory their bodies, parsed
// lines and transactions took is returned to the operating system. The
// runtime would otherwise keep that high-water mark for minutes, and a
// registry load would show as hundreds of megabytes that nothing uses.
func releaseAfterBulk(bulk func() func(context.Context) error, release func()) func() func(context.Context) error {
	var mu sync.Mutex
	var timer *time.Timer
	return func() func(context.Context) error {
		done := bulk()
		return func(ctx context.Context) error {
			err := done(ctx)
			mu.Lock()
			if timer == nil {
				timer = time.AfterFunc(bulkQuiet, release)
			} else {
				timer.Reset(bulkQuiet)
			}
			mu.Unlock()
			return err
		}
	}
}

// bulkQuiet is how long no bulk write must have run before its memory is
// released (a load of several bodies releases once, after the last).
const bulkQuiet = 500 * time.Millisecond
