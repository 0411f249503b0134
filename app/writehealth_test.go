package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/snapshot"
	"github.com/publicmask/publicmask/sqlite"
)

func TestWriteFailureCause(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{publicmask.Errorf(publicmask.EQuotaExceeded, "over"), ""},
		{context.Canceled, ""},
		{fmt.Errorf("write: %w", syscall.ENOSPC), causeDiskFull},
		{errors.New(`pq: could not extend file "base/1/2": No space left on device`), causeDiskFull},
		{fmt.Errorf("%w: x", sqlite.ErrFlushFailed), causeFlushFailed},
		{publicmask.Errorf(publicmask.EStoreUnavailable, "down"), causeUnreachable},
		{context.DeadlineExceeded, causeUnreachable},
	}
	for _, c := range cases {
		if got := writeFailureCause(c.err); got != c.want {
			t.Errorf("cause of %v = %q, want %q", c.err, got, c.want)
		}
	}
}

// fakeStore fails writes while full is set.
type fakeStore struct {
	publicmask.Store
	full atomic.Bool
}

func (f *fakeStore) err() error {
	if f.full.Load() {
		return fmt.Errorf("sqlite: commit: %w", syscall.ENOSPC)
	}
	return nil
}

func (f *fakeStore) Write(ctx context.Context, fn func(publicmask.Tx) error) error { return f.err() }
func (f *fakeStore) SetMeta(ctx context.Context, k, v string) error                { return f.err() }

// A failed durable write makes the node unready, counted by cause; probe
// writes bring it back once one succeeds, with no other write needed.
func TestReadinessFollowsDurableWrites(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fs := &fakeStore{}
	reg := prometheus.NewRegistry()
	w := watchStore(ctx, fs, reg, slog.New(slog.DiscardHandler))
	w.every = 10 * time.Millisecond
	if err := w.Write(ctx, nil); err != nil || w.readyErr() != nil {
		t.Fatalf("healthy store: write %v, ready %v", err, w.readyErr())
	}
	fs.full.Store(true)
	if err := w.Write(ctx, nil); err == nil {
		t.Fatal("write on a full disk succeeded")
	}
	if err := w.readyErr(); publicmask.ErrorCode(err) != publicmask.EStoreUnavailable {
		t.Fatalf("ready after a failed write: %v", err)
	}
	if cause, _, _ := w.failure(); cause != causeDiskFull {
		t.Fatalf("cause %q", cause)
	}
	// Probes keep failing while the disk is full.
	deadline := time.Now().Add(5 * time.Second)
	for counterValue(w.probes) < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if w.readyErr() == nil {
		t.Fatal("ready again while the disk is still full")
	}
	if n := counterValue(w.errs.WithLabelValues(causeDiskFull)); n < 3 {
		t.Fatalf("%v disk_full errors counted, want the write and the failed probes", n)
	}
	fs.full.Store(false)
	for w.readyErr() != nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := w.readyErr(); err != nil {
		t.Fatalf("still unready after space was freed: %v", err)
	}
	if v := counterValue(w.probes); v < 3 {
		t.Fatalf("%v probes", v)
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}

// The watch costs each durable write (one per batch of sales) a
// classification and an uncontended lock: nanoseconds beside a commit's
// flush to disk.
func BenchmarkWatchedWrite(b *testing.B) {
	fs := &fakeStore{}
	w := watchStore(b.Context(), fs, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	for name, st := range map[string]publicmask.Store{"direct": fs, "watched": w} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				st.Write(b.Context(), nil)
			}
		})
	}
}

// orderedStore is a store whose change feed is ordered (as PostgreSQL's).
type orderedStore struct{ fakeStore }

func (*orderedStore) OrderedChanges() bool { return true }

// The wrapper passes on the store's ordered feed, so that a public node on
// PostgreSQL polls without re-reading the late-commit window.
func TestWatchedStoreOrderedChanges(t *testing.T) {
	for _, c := range []struct {
		st   publicmask.Store
		want bool
	}{{&fakeStore{}, false}, {&orderedStore{}, true}} {
		w := watchStore(context.Background(), c.st, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
		var src snapshot.Source = w
		o, ok := src.(snapshot.OrderedSource)
		if got := ok && o.OrderedChanges(); got != c.want {
			t.Errorf("%T: ordered %v, want %v", c.st, got, c.want)
		}
	}
}
