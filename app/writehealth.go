package app

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/metric"
	"github.com/publicmask/publicmask/postgres"
	"github.com/publicmask/publicmask/snapshot"
	"github.com/publicmask/publicmask/sqlite"
)

// Readiness follows durability (DESIGN §4.5): a node whose store does not
// take durable writes must leave the load balancer's rotation, not keep
// answering outlets with 503s while /readyz says 200. watchedStore sees
// every write's outcome; after a failed one it probes with a small durable
// write each second, and readiness returns when a write succeeds again. A
// failed flush is final until the node restarts (the store's Ping says so).

// Causes of failed durable writes (the cause label of
// publicmask_store_write_errors_total).
const (
	causeDiskFull    = "disk_full"
	causeFlushFailed = "flush_failed"
	causeIO          = "io_error"
	causeUnreachable = "store_unavailable"
	causeReadOnly    = "read_only"     // PostgreSQL answers but refuses writes (a standby)
	causeReplaced    = "file_replaced" // the SQLite file at the path is not the one the node holds
	// causeSlowFlush is not a failed write: flushes to disk that take
	// seconds (a failing or saturated disk) hold every sale past the
	// counter's cutoff. /status and the log say so; /readyz stays 200,
	// since the writes do become durable and another node would share the
	// disk's fate (SQLite) or the database's (PostgreSQL).
	causeSlowFlush = "slow_flush"
)

const (
	// slowFlushAfter is how long a flush may run before the node says
	// that its disk is slow: half the time a sale may wait in all (2 s).
	slowFlushAfter = time.Second
	// slowFlushQuiet is how long after the last slow flush the episode
	// ends: consecutive slow flushes are one episode, not one per flush.
	slowFlushQuiet = 10 * time.Second
	// slowFlushLogEvery is how often a slow episode is logged again.
	slowFlushLogEvery = 30 * time.Second
)

// flushTimer is a store that tells how long its flush in progress has run
// (the SQLite store; PostgreSQL flushes inside the database).
type flushTimer interface{ FlushRunning() time.Duration }

const (
	probeEvery = time.Second
	probeKey   = "write_probe"
	// A probe needs about the room of a batch of sales: a few bytes could
	// still fit in a WAL whose batch just failed, and readiness would
	// then flap with every sale refused.
	probeSize = 128 << 10
)

type watchedStore struct {
	publicmask.Store
	bg     context.Context
	log    *slog.Logger
	errs   *prometheus.CounterVec
	probes prometheus.Counter
	every  time.Duration // between probes

	mu      sync.Mutex
	cause   string // "" while writes succeed
	since   time.Time
	lastErr string
	probing bool
	// A slow-flush episode (watchFlushes): when it began, when a flush
	// was last seen running longer than slowFlushAfter, the longest.
	slowSince, slowLast time.Time
	slowMax             time.Duration
}

func watchStore(bg context.Context, st publicmask.Store, reg prometheus.Registerer, log *slog.Logger) *watchedStore {
	w := &watchedStore{
		Store: st, bg: bg, log: log, every: probeEvery,
		errs: metric.CounterVec("publicmask_store_write_errors_total",
			"Durable writes that failed, by cause (disk_full, flush_failed, io_error, store_unavailable, read_only, file_replaced); probe writes included.", "cause"),
		probes: metric.Counter("publicmask_store_write_probes_total", "Probe writes made while durable writes were failing."),
	}
	for _, c := range []string{causeDiskFull, causeFlushFailed, causeIO, causeUnreachable, causeReadOnly, causeReplaced} {
		w.errs.WithLabelValues(c) // export zeros: an alert can compare against them
	}
	reg.MustRegister(w.errs, w.probes, metric.GaugeFunc("publicmask_store_writable",
		"1 while the store takes durable writes, 0 after a failed one until a write succeeds again.", func() float64 {
			if c, _, _ := w.failure(); c != "" {
				return 0
			}
			return 1
		}))
	if ft, ok := st.(flushTimer); ok {
		go w.watchFlushes(ft, slowFlushAfter/4)
	}
	if ch, ok := st.(checkpointHealth); ok {
		go w.watchCheckpoints(ch, time.Second)
	}
	return w
}

// checkpointHealth is a store whose checkpoints can fail while its writes
// succeed (the SQLite store: the WAL grows until one succeeds).
type checkpointHealth interface {
	CheckpointHealth() (failures int64, lastErr string, failing bool)
}

// watchCheckpoints logs checkpoints that fail — at once, again every
// slowFlushLogEvery while they do, and when one succeeds again. Sales go
// on meanwhile, but the WAL grows until the disk is full: the operator's
// early warning, which was silent.
func (w *watchedStore) watchCheckpoints(ch checkpointHealth, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	var (
		logged time.Time
		first  int64 // failures before this episode
		in     bool
	)
	for {
		select {
		case <-w.bg.Done():
			return
		case <-t.C:
		}
		n, msg, failing := ch.CheckpointHealth()
		now := time.Now()
		switch {
		case failing && (!in || now.Sub(logged) >= slowFlushLogEvery):
			if !in {
				in, first = true, n-1
			}
			logged = now
			w.log.Warn("a checkpoint failed: the WAL cannot be copied into the database file and grows until one succeeds (is the disk full?)",
				"failures", n-first, "err", msg)
		case in && !failing && n > 0:
			in = false
			w.log.Info("checkpoints succeed again", "failures", n-first)
		}
	}
}

// watchFlushes looks at the flush in progress every tick: one that has run
// longer than slowFlushAfter starts (or extends) a slow episode, logged at
// once and again every slowFlushLogEvery; the episode ends, logged too,
// once no flush has been slow for slowFlushQuiet.
func (w *watchedStore) watchFlushes(ft flushTimer, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	var logged time.Time
	for {
		select {
		case <-w.bg.Done():
			return
		case <-t.C:
		}
		d, now := ft.FlushRunning(), time.Now()
		w.mu.Lock()
		switch {
		case d >= slowFlushAfter:
			if w.slowSince.IsZero() {
				w.slowSince, w.slowMax = now, 0
			}
			w.slowLast, w.slowMax = now, max(w.slowMax, d)
			if logged.IsZero() || now.Sub(logged) >= slowFlushLogEvery {
				logged = now
				w.log.Warn("a flush to disk is slow: every sale waits for it and is answered 503 past its deadline", "running_s", d.Seconds(), "slow_for_s", now.Sub(w.slowSince).Seconds())
			}
		case !w.slowSince.IsZero() && now.Sub(w.slowLast) >= slowFlushQuiet:
			w.log.Info("flushes to disk are fast again", "slow_for_s", w.slowLast.Sub(w.slowSince).Seconds(), "longest_s", w.slowMax.Seconds())
			w.slowSince, logged = time.Time{}, time.Time{}
		}
		w.mu.Unlock()
	}
}

// slowFlush reports a slow-flush episode in progress: since when, and the
// longest flush seen in it (zero times when there is none).
func (w *watchedStore) slowFlush() (since time.Time, longest time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.slowSince, w.slowMax
}

// OrderedChanges passes on the wrapped store's promise that its change feed
// is ordered (snapshot.OrderedSource); embedding the interface alone would
// hide it, and the refresher would re-read its late-commit window.
func (w *watchedStore) OrderedChanges() bool {
	o, ok := w.Store.(snapshot.OrderedSource)
	return ok && o.OrderedChanges()
}

// MissingOutlets passes on the wrapped store's one-read check of many
// outlet codes (publicmask.OutletFinder), which embedding the interface
// alone would hide: the bulk token endpoint would read 5,000 outlets one by
// one.
func (w *watchedStore) MissingOutlets(ctx context.Context, codes []string) ([]string, error) {
	return publicmask.MissingOutlets(ctx, w.Store, codes)
}

// TokenHashes and TokenCount pass on the wrapped store's listing of its
// tokens (publicmask.TokenLister), which embedding the interface alone
// would hide: the ledger loads them at start so that a neighbour's flood
// of made-up tokens cannot refuse a valid one (DESIGN.md §6.5). A store
// without it answers errors.ErrUnsupported, and the ledger goes without.
func (w *watchedStore) TokenHashes(ctx context.Context, since time.Time, fn func(hash []byte, created time.Time) error) error {
	if tl, ok := w.Store.(publicmask.TokenLister); ok {
		return tl.TokenHashes(ctx, since, fn)
	}
	return errors.ErrUnsupported
}

func (w *watchedStore) TokenCount(ctx context.Context) (int, error) {
	if tl, ok := w.Store.(publicmask.TokenLister); ok {
		return tl.TokenCount(ctx)
	}
	return 0, errors.ErrUnsupported
}

// writeFailureCause classifies a failed write; "" for errors that say
// nothing about the store (a business rule, a client that left).
func writeFailureCause(err error) string {
	var se *msqlite.Error
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return ""
	case errors.Is(err, sqlite.ErrFileReplaced):
		return causeReplaced
	case errors.Is(err, sqlite.ErrFlushFailed):
		return causeFlushFailed
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return causeDiskFull
	case errors.As(err, &se):
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_FULL:
			return causeDiskFull
		case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return causeIO
		}
	case strings.Contains(err.Error(), "could not extend file"), strings.Contains(err.Error(), "No space left on device"):
		return causeDiskFull // PostgreSQL's words for a full disk
	case postgres.IsReadOnly(err):
		return causeReadOnly
	}
	if publicmask.ErrorCode(err) == publicmask.EStoreUnavailable || errors.Is(err, context.DeadlineExceeded) {
		return causeUnreachable
	}
	return ""
}

func (w *watchedStore) observe(err error) {
	cause := writeFailureCause(err)
	if err != nil && cause == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if cause == "" {
		if w.cause != "" {
			w.log.Info("durable writes succeed again", "failing_for", time.Since(w.since).Round(time.Millisecond).String(), "cause", w.cause)
			w.cause = ""
		}
		return
	}
	w.errs.WithLabelValues(cause).Inc()
	if w.cause == "" {
		w.since = time.Now()
		w.log.Error("durable write failed: not ready until a write succeeds again", "cause", cause, "err", err.Error())
	}
	w.cause, w.lastErr = cause, err.Error()
	if !w.probing {
		w.probing = true
		go w.probe()
	}
}

// probeFiller is probeSize characters that do not compress: PostgreSQL
// compresses a long value before it stores it (TOAST), and a run of one
// character took a few bytes, so that its probe succeeded on a full disk
// where every sale failed, and readiness flapped each second.
func probeFiller() string {
	b := make([]byte, probeSize/2)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rand.Uint64())
	}
	return hex.EncodeToString(b)
}

// probe writes a small durable record each second until one succeeds.
func (w *watchedStore) probe() {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-w.bg.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(w.bg, 5*time.Second)
		w.probes.Inc()
		stamp := time.Now().UTC().Format(time.RFC3339Nano)
		err := w.Store.SetMeta(ctx, probeKey, stamp+" "+probeFiller())
		if err == nil {
			w.Store.SetMeta(ctx, probeKey, stamp) // give the room back
		}
		cancel()
		if w.bg.Err() != nil {
			return
		}
		w.observe(err)
		w.mu.Lock()
		done := w.cause == ""
		if done {
			w.probing = false
		}
		w.mu.Unlock()
		if done {
			return
		}
	}
}

// failure reports why durable writes fail ("" if they do not).
func (w *watchedStore) failure() (cause string, since time.Time, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cause, w.since, w.lastErr
}

func (w *watchedStore) Write(ctx context.Context, fn func(publicmask.Tx) error) error {
	err := w.Store.Write(ctx, fn)
	w.observe(err)
	return err
}

func (w *watchedStore) SetMeta(ctx context.Context, key, value string) error {
	err := w.Store.SetMeta(ctx, key, value)
	w.observe(err)
	return err
}

func (w *watchedStore) InitMeta(ctx context.Context, key, value string) (string, error) {
	v, err := w.Store.InitMeta(ctx, key, value)
	w.observe(err)
	return v, err
}

// readyErr is the node's readiness as far as writes go.
func (w *watchedStore) readyErr() error {
	if cause, _, _ := w.failure(); cause != "" {
		return publicmask.Errorf(publicmask.EStoreUnavailable, "the store does not take durable writes (%s) since its last write failed", cause)
	}
	return nil
}
