package app

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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

// finderStore tells missing outlets in one read (as PostgreSQL's) and
// counts both kinds of read.
type finderStore struct {
	fakeStore
	finds, reads atomic.Int64
}

func (f *finderStore) MissingOutlets(ctx context.Context, codes []string) ([]string, error) {
	f.finds.Add(1)
	return codes[1:], nil
}

func (f *finderStore) Outlet(ctx context.Context, code string) (publicmask.Outlet, error) {
	f.reads.Add(1)
	return publicmask.Outlet{}, publicmask.Errorf(publicmask.ENotFound, "outlet %q not found", code)
}

// readsOnlyStore has no finder: every code is one Outlet read.
type readsOnlyStore struct {
	fakeStore
	reads atomic.Int64
}

func (f *readsOnlyStore) Outlet(ctx context.Context, code string) (publicmask.Outlet, error) {
	f.reads.Add(1)
	if code == "10000001" {
		return publicmask.Outlet{Code: code}, nil
	}
	return publicmask.Outlet{}, publicmask.Errorf(publicmask.ENotFound, "outlet %q not found", code)
}

// The wrapper passes on the store's one-read check of many outlet codes,
// so that the bulk token endpoint of a node checks 5,000 outlets in one
// statement (a review found the node's wrapper hid it), and falls back to
// one read a code for a store without it.
func TestWatchedStoreMissingOutlets(t *testing.T) {
	codes := []string{"10000001", "10000002", "10000003"}
	fs := &finderStore{}
	w := watchStore(context.Background(), fs, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	var st publicmask.Store = w
	if _, ok := st.(publicmask.OutletFinder); !ok {
		t.Fatal("watchedStore hides publicmask.OutletFinder")
	}
	missing, err := publicmask.MissingOutlets(context.Background(), st, codes)
	if err != nil || !slices.Equal(missing, codes[1:]) {
		t.Errorf("MissingOutlets = %v, %v; want %v", missing, err, codes[1:])
	}
	if fs.finds.Load() != 1 || fs.reads.Load() != 0 {
		t.Errorf("through the wrapper: %d finder calls, %d outlet reads; want 1 and 0", fs.finds.Load(), fs.reads.Load())
	}

	rs := &readsOnlyStore{}
	w = watchStore(context.Background(), rs, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	missing, err = publicmask.MissingOutlets(context.Background(), w, codes)
	if err != nil || !slices.Equal(missing, codes[1:]) {
		t.Errorf("MissingOutlets without a finder = %v, %v; want %v", missing, err, codes[1:])
	}
	if rs.reads.Load() != int64(len(codes)) {
		t.Errorf("without a finder: %d outlet reads, want %d", rs.reads.Load(), len(codes))
	}
}

// TestProbeFillerDoesNotCompress: PostgreSQL compresses a long value
// before it stores it (TOAST, pglz); the probe's filler must keep its size
// there, or a probe on a full disk succeeds while every sale fails. A run of
// one character (the filler before) deflates to under 1%.
func TestProbeFillerDoesNotCompress(t *testing.T) {
	f := probeFiller()
	if len(f) != probeSize {
		t.Fatalf("filler of %d characters, want %d", len(f), probeSize)
	}
	if f == probeFiller() {
		t.Fatal("two fillers are the same")
	}
	var b bytes.Buffer
	z, _ := flate.NewWriter(&b, flate.BestCompression)
	z.Write([]byte(f))
	z.Close()
	// Hex digits carry 4 bits a byte: deflate's Huffman codes reach about
	// half; pglz, without them, finds no repeats to save anything.
	if r := float64(b.Len()) / float64(len(f)); r < 0.45 {
		t.Fatalf("the filler deflates to %.2f of its size", r)
	}
}
