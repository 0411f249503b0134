package snapshot

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	publicmask "github.com/publicmask/publicmask"
)

// Source is what the refresher reads: the store (publicmask.Store satisfies
// it).
type Source interface {
	Outlets(ctx context.Context) ([]publicmask.Outlet, int64, error)
	OutletChanges(ctx context.Context, after int64, limit int) ([]publicmask.Outlet, error)
}

// OrderedSource is implemented by a Source whose change feed is ordered:
// once OutletChanges has returned version v, no version below v can become
// visible later (PostgreSQL stamps versions at commit under a lock, see
// postgres/tx.go). The refresher then polls from its watermark only,
// without re-reading LateCommitWindow.
type OrderedSource interface {
	OrderedChanges() bool
}

// HistorySource is implemented by a Source that keeps the chain of its
// history's epochs (publicmask.Epochs) in its metadata, as both stores do.
// The refresher then labels its snapshots with the current epoch and, when
// it polls, notices a store restored from a backup or recreated under it
// (its own data is then of a history the store no longer has): it rebuilds
// its snapshot from the store and closes its streams, whose clients
// reconnect and get a reset.
type HistorySource interface {
	Epochs(ctx context.Context) (publicmask.Epochs, error)
}

// Options configure a Refresher. The zero value works.
type Options struct {
	// Clock is the service clock (default time.Now); freshness compares it
	// with the outlets' UpdatedAt, so it must be the ledger's clock.
	Clock func() time.Time
	// Registerer receives the metrics; nil registers nothing.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// PollInterval > 0 makes the refresher poll the store for changes above
	// its watermark (a public node in another process than the ledger).
	PollInterval time.Duration
	// PollBatch is the page size of one OutletChanges call (default 5000).
	PollBatch int
	// LateCommitWindow is how far back (in wall time) each poll re-reads:
	// with PostgreSQL a lower version can commit after a higher one, so the
	// poll starts from the watermark as it was this long ago instead of the
	// latest (default 2s). Re-read outlets are ignored by version. Not used
	// for a Source whose OrderedChanges reports true.
	LateCommitWindow time.Duration
	// ConfirmEvery is how often a quiet snapshot's as_of moves forward
	// (default 1s): after a poll that found nothing new or, without
	// polling, on a timer (every commit in the process notifies the
	// refresher, so its snapshot is current by construction). as_of is when
	// the node last knew its snapshot current (DESIGN.md §6.13): a quiet
	// night is not stale, a store that cannot be polled is.
	ConfirmEvery time.Duration
	// OnResize, if set, is called with the number of outlets whenever a
	// snapshot with a different number is swapped in (and after the first
	// build), and when a bulk write holds back new outlets (with the number
	// there will be once they are in), on the apply goroutine: the process
	// sizes its memory budget by it. A registry load's outlets are in
	// memory (parsed, held back, in the writer's copy) before they are in
	// a snapshot: a budget one import body behind left the collector
	// running back to back.
	OnResize func(outlets int)
}

// Refresher keeps the current Snapshot up to date.
type Refresher struct {
	src  Source
	opts Options
	log  *slog.Logger
	now  func() time.Time

	cur atomic.Pointer[Snapshot]
	// asOfMono is when (time.Since(epoch), monotonic) the current
	// snapshot's as_of was set: its age for the metric and the status is
	// real time, whatever the service clock's rate (--clock-rate), as
	// the alerts' thresholds and the operator's watch are.
	epoch    time.Time
	asOfMono atomic.Int64

	mu      sync.Mutex
	pending map[string]publicmask.Outlet
	wake    chan struct{}
	// Bulk writes (imports) hold back the changes that would rebuild the
	// indexes (new outlets, moved ones) until they end, so that a bulk
	// import of many commits rebuilds them once, not once per commit.
	// The changes held back are kept in the order held (the version
	// order: holdBack reads its batch in that order), one per code, with
	// each code's place: an import body's 100,000 new outlets go from
	// here into the batch that applies them as they are, not through a
	// map of outlets and a sort.
	holds    int
	deferred []publicmask.Outlet
	// spare is the last released batch's memory, emptied, kept while a
	// bulk write holds for the next one's held changes to grow into: an
	// import body's held slice (16 MB for 100,000 outlets) grown anew by
	// doubling allocated ~40 MB a body, and touched fresh pages.
	spare      []publicmask.Outlet
	deferredAt map[string]int32
	heldNew    int           // outlets of deferred that the snapshot does not hold
	resized    int           // the last number given to OnResize
	release    bool          // a bulk write's end released deferred: apply it and pending, all of it
	seq        int64         // Notify calls so far
	applied    int64         // the seq that the current snapshot covers
	settled    chan struct{} // closed (and replaced) whenever applied moves

	// The place index's map by label, kept by a merge for the next one
	// (placeIndex.labels), is dropped once it has gone unused for
	// mergeStateTTL (dropIdleMergeState): the apply goroutine's own
	// record of which map it saw and since when (monotonic clock).
	labelsSeen  *map[placeKey]int32
	labelsSince time.Time
	monoNow     func() time.Time

	subMu sync.Mutex
	subs  []*Subscription             // without a place: see every change
	cells map[cellKey][]*Subscription // with one: indexed by geo cell

	// Applied batches wait here for the publisher goroutine, so that fanning
	// out to thousands of subscribers never delays the next snapshot.
	pubMu   sync.Mutex
	pubQ    []pubBatch
	pubWake chan struct{}

	pollMu    sync.Mutex
	watermark int64
	marks     []mark // watermark history for LateCommitWindow
	ordered   bool   // the source's feed is ordered: no window to re-read

	// hist is the store's chain of epochs as last read (nil without a
	// HistorySource); every snapshot swapped in carries it. rebuilt is a
	// snapshot built from scratch by a poll that found the store's history
	// changed under the node, for the apply goroutine to swap in (r.mu).
	hist          atomic.Pointer[publicmask.Epochs]
	rebuilt       *Snapshot
	gen           atomic.Int64 // rebuilds so far (History)
	warnedHistory atomic.Bool

	freshness prometheus.Histogram
	applySec  prometheus.Histogram
	version   prometheus.Gauge
	dropped   prometheus.Counter
	started   atomic.Bool
	confirm   atomic.Bool // a poll found nothing new: the snapshot is current
}

type mark struct {
	at time.Time
	v  int64
}

// NewRefresher returns a refresher over src; call Start to build the first
// snapshot.
func NewRefresher(src Source, opts Options) *Refresher {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PollBatch <= 0 {
		opts.PollBatch = 5000
	}
	if opts.LateCommitWindow <= 0 {
		opts.LateCommitWindow = 2 * time.Second
	}
	if opts.ConfirmEvery <= 0 {
		opts.ConfirmEvery = time.Second
	}
	srcOrder, ok := src.(OrderedSource)
	r := &Refresher{
		src: src, opts: opts, log: opts.Logger, now: opts.Clock, monoNow: time.Now, epoch: time.Now(),
		ordered:    ok && srcOrder.OrderedChanges(),
		resized:    -1,
		pending:    make(map[string]publicmask.Outlet),
		deferredAt: make(map[string]int32),
		settled:    make(chan struct{}),
		wake:       make(chan struct{}, 1),
		pubWake:    make(chan struct{}, 1),
		cells:      make(map[cellKey][]*Subscription),
		freshness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "publicmask_snapshot_freshness_seconds",
			Help:    "Time from an outlet change's commit (its UpdatedAt) to its visibility in the public snapshot.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		applySec: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "publicmask_snapshot_apply_seconds",
			Help: "Time to build and swap one snapshot from a batch of changes.",
			// Doubling from 25 µs to 0.8 s: applies are sub-millisecond at
			// any registry size, and with ×4 buckets an interpolated p99 moved
			// between 0.2 and 0.8 ms by where it fell in one bucket.
			Buckets: prometheus.ExponentialBuckets(.000025, 2, 16),
		}),
		version: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "publicmask_snapshot_version",
			Help: "Store version the public snapshot reflects.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "publicmask_stream_subscribers_dropped_total",
			Help: "Change-stream subscribers dropped because they did not keep up.",
		}),
	}
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "publicmask_snapshot_age_seconds",
		Help: "Time since the current public snapshot was made (its as_of).",
	}, func() float64 {
		s := r.cur.Load()
		if s == nil {
			return 0
		}
		return r.Age().Seconds()
	})
	if reg := opts.Registerer; reg != nil {
		for _, c := range []prometheus.Collector{r.freshness, r.applySec, r.version, r.dropped, age} {
			if err := reg.Register(c); err != nil {
				r.log.Warn("snapshot: metric not registered", "err", err)
			}
		}
	}
	return r
}

// Current returns the current snapshot, nil until Start has built one.
func (r *Refresher) Current() *Snapshot { return r.cur.Load() }

// swap makes s current, noting when its as_of was set. s takes the chain of
// epochs last read, so that the versions it serves go out with the epoch
// of their history.
func (r *Refresher) swap(s *Snapshot) {
	if h := r.hist.Load(); h != nil {
		s.epochs = *h
	}
	r.asOfMono.Store(int64(time.Since(r.epoch)))
	r.cur.Store(s)
}

// Age is the real time since the current snapshot was last known current
// (its as_of, DESIGN.md §6.13); 0 before Start has built one.
func (r *Refresher) Age() time.Duration {
	if r.cur.Load() == nil {
		return 0
	}
	return time.Since(r.epoch) - time.Duration(r.asOfMono.Load())
}

// History counts the snapshot's rebuilds from another history of the
// store (a restore seen by a poll). It moves before the rebuilt snapshot is
// swapped in, so a stream that reads Current and then finds History
// unchanged knows that snapshot is of the history its batches come from.
func (r *Refresher) History() int64 { return r.gen.Load() }

// Ready reports whether a snapshot is being served.
func (r *Refresher) Ready() bool { return r.cur.Load() != nil }

// Start builds the first snapshot from the source, then applies
// notifications (and polls, if configured) in the background until ctx ends.
func (r *Refresher) Start(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("snapshot: refresher already started")
	}
	outlets, version, err := r.src.Outlets(ctx)
	if err == nil {
		// After the outlets: the chain read then holds every epoch their
		// versions belong to.
		err = r.readHistory(ctx)
	}
	if err != nil {
		r.started.Store(false)
		return err
	}
	s := build(outlets, version, r.now())
	r.swap(s)
	r.version.Set(float64(s.version))
	r.pollMu.Lock()
	r.watermark = s.version
	r.marks = []mark{{time.Now(), s.version}}
	r.pollMu.Unlock()
	r.log.Info("snapshot: built", "outlets", s.n, "version", s.version)
	r.resize(s.n)
	go r.applyLoop(ctx)
	go r.publishLoop(ctx)
	if r.opts.PollInterval > 0 {
		go r.pollLoop(ctx)
	} else {
		go r.confirmLoop(ctx)
	}
	r.signal() // apply anything notified before Start
	return nil
}

// Notify hands the refresher the new state of outlets just committed. It
// never blocks on the refresher: changes are merged into a pending set (the
// newest version per outlet wins) that one goroutine applies in batches.
func (r *Refresher) Notify(changed []publicmask.Outlet) {
	if len(changed) == 0 {
		return
	}
	r.mu.Lock()
	mergeNewest(r.pending, changed)
	r.seq++
	r.mu.Unlock()
	r.signal()
}

// emptied returns m empty. clear keeps a map's memory: once an import body
// has passed through (100,000 outlets), that would keep ~12 MB per map for
// the rest of the process's life, so a large map is dropped instead. A
// commit's worth (a delivery list's chunk changes 2,000 outlets) is kept,
// about half a megabyte: a map made anew for each chunk grew by doubling
// to its size, ~5% of the bytes allocated during opening deliveries.
func emptied(m map[string]publicmask.Outlet) map[string]publicmask.Outlet {
	if len(m) > keepPending {
		return make(map[string]publicmask.Outlet)
	}
	clear(m)
	return m
}

// keepPending is the size up to which emptied keeps a map's memory.
const keepPending = 4096

func mergeNewest(m map[string]publicmask.Outlet, changed []publicmask.Outlet) {
	for _, o := range changed {
		if p, ok := m[o.Code]; !ok || o.Version > p.Version {
			m[o.Code] = o
		}
	}
}

// Bulk marks the start of a bulk write (an outlet import, a delivery
// list): until done is called, changes that would rebuild the indexes wait,
// while stock changes keep flowing. done ends the bulk write and returns
// once the current snapshot holds everything notified before it, so that
// what the bulk write committed is visible when its request returns. That
// holds when bulk writes overlap too: the end of one releases everything
// held back so far (its own changes cannot be told from the others').
func (r *Refresher) Bulk() (done func(ctx context.Context) error) {
	r.mu.Lock()
	r.holds++
	r.mu.Unlock()
	var once sync.Once
	return func(ctx context.Context) error {
		once.Do(func() {
			r.mu.Lock()
			r.holds--
			if r.holds == 0 {
				r.spare = nil // no bulk write left to use it
			}
			if len(r.deferred) > 0 || len(r.pending) > 0 {
				// The apply loop takes deferred and pending together
				// (released); nothing is held back until it has. Pending
				// changes are released even when no other bulk write
				// holds: one could begin before the apply loop takes
				// them, and would hold this write's new outlets back
				// past its return.
				r.heldNew = 0
				r.release = true
				r.seq++
			}
			r.mu.Unlock()
			r.signal()
		})
		return r.Sync(ctx)
	}
}

// mergeStateTTL is how long the place index's map by label (~10 MB at
// 540,000 outlets) outlives the merge that made it when no bulk write holds
// changes back: long enough to carry it from one import body to the next,
// short enough that merges outside a load (a public node following an
// import, a seed, a bulk write whose end timed out) do not keep it for good.
const mergeStateTTL = 10 * time.Second

// dropIdleMergeState drops the current snapshot's map by label once the
// same map has been seen for mergeStateTTL with no bulk write running. It
// runs on the apply goroutine, at each wake.
func (r *Refresher) dropIdleMergeState() {
	s := r.cur.Load()
	if s == nil {
		return
	}
	m := s.reg.places.labels.Load()
	if m == nil {
		r.labelsSeen = nil
		return
	}
	now := r.monoNow()
	if m != r.labelsSeen {
		r.labelsSeen, r.labelsSince = m, now
		return
	}
	r.mu.Lock()
	bulk := r.holds > 0
	r.mu.Unlock()
	if !bulk && now.Sub(r.labelsSince) >= mergeStateTTL {
		s.reg.places.labels.CompareAndSwap(m, nil)
		r.labelsSeen = nil
	}
}

// DropMergeState drops what the current snapshot keeps only for the next
// merge of new outlets (the place index's map of places by label): called
// once a load is over, it gives back its memory; a later merge makes it
// again.
func (r *Refresher) DropMergeState() {
	if s := r.cur.Load(); s != nil {
		s.reg.places.labels.Store(nil)
	}
}

// Sync returns once the current snapshot holds every change notified
// before the call (except those a bulk write still holds back), or when ctx
// ends or the refresher has not started.
func (r *Refresher) Sync(ctx context.Context) error {
	if !r.started.Load() {
		return nil
	}
	r.mu.Lock()
	target := r.seq
	for r.applied < target {
		ch := r.settled
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
		r.mu.Lock()
	}
	r.mu.Unlock()
	return nil
}

// settle records that the snapshot now covers the Notify calls up to seq.
func (r *Refresher) settle(seq int64) {
	r.mu.Lock()
	if seq > r.applied {
		r.applied = seq
		close(r.settled)
		r.settled = make(chan struct{})
	}
	r.mu.Unlock()
}

// holdBack moves to r.deferred the changes of batch (in version order)
// that would rebuild the indexes of s (new outlets, changed addresses or
// coordinates) while a bulk write is in progress, and returns the rest.
// r.mu is held.
func (r *Refresher) holdBack(s *Snapshot, batch []publicmask.Outlet) []publicmask.Outlet {
	if r.holds == 0 {
		return batch
	}
	keep := batch[:0]
	for _, o := range batch {
		e, ok := s.Lookup(o.Code)
		if ok && e.Addr() == o.Addr && e.Lat == o.Lat && e.Lng == o.Lng {
			keep = append(keep, o)
			continue
		}
		if keptNewest(r.deferred, r.deferredAt, o) {
			continue
		}
		if !ok {
			r.heldNew++
		}
		if len(r.deferred) == cap(r.deferred) {
			if cap(r.spare) > len(r.deferred) {
				r.deferred, r.spare = append(r.spare, r.deferred...), nil
			} else {
				// Doubling, room for the batch at least: append grows a
				// large slice by a quarter, which copied an import
				// body's held outlets ~5 times over as it grew.
				r.deferred = slices.Grow(r.deferred, max(len(batch), len(r.deferred)))
			}
		}
		r.deferredAt[o.Code] = int32(len(r.deferred))
		r.deferred = append(r.deferred, o)
	}
	return keep
}

// released returns what a bulk write's end released: the changes held
// back, in the order held, with pending's merged in (the newest version
// per code; the others after them in version order: a body's last
// commits), and empties both. r.mu is held.
func (r *Refresher) released() []publicmask.Outlet {
	batch, at := r.deferred, r.deferredAt
	held := len(batch)
	for _, o := range r.pending {
		if !keptNewest(batch, at, o) {
			batch = append(batch, o)
		}
	}
	byVersion(batch[held:])
	r.pending = emptied(r.pending)
	r.deferred = nil
	if len(at) > keepPending {
		r.deferredAt = make(map[string]int32)
	} else {
		clear(at)
	}
	return batch
}

// keepSpare keeps an applied released batch's memory as r.spare, emptied
// (its outlets' strings not kept alive), if a bulk write still holds and
// it is larger than the spare there is; the snapshot keeps nothing of a
// batch (the entries copy what they need).
func (r *Refresher) keepSpare(batch []publicmask.Outlet) {
	if cap(batch) <= keepPending {
		return
	}
	r.mu.Lock()
	keep := r.holds > 0 && cap(batch) > cap(r.spare)
	r.mu.Unlock()
	if !keep { // the last body's batch: not cleared only to be dropped
		return
	}
	clear(batch) // outside the lock: ~20 MB for an import body
	r.mu.Lock()
	if r.holds > 0 && cap(batch) > cap(r.spare) { // a done may have come since
		r.spare = batch[:0]
	}
	r.mu.Unlock()
}

// keptNewest: held, with each code's place in at, has o's code, and now
// holds the newer of the two (mergeNewest for the held slice).
func keptNewest(held []publicmask.Outlet, at map[string]int32, o publicmask.Outlet) bool {
	j, ok := at[o.Code]
	if ok && o.Version > held[j].Version {
		held[j] = o
	}
	return ok
}

func (r *Refresher) signal() {
	select {
	case r.wake <- struct{}{}:
	default: // a wake-up is already pending; it will see our changes
	}
}

func (r *Refresher) applyLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			r.closeSubs()
			return
		case <-r.wake:
		}
		r.dropIdleMergeState()
		r.mu.Lock()
		seq := r.seq
		if rb := r.rebuilt; rb != nil {
			r.rebuilt = nil
			r.mu.Unlock()
			r.swapRebuilt(rb)
			r.settle(seq)
			continue
		}
		if len(r.pending) == 0 && (!r.release || len(r.deferred) == 0) {
			r.release = false
			r.mu.Unlock()
			r.settle(seq)
			if r.confirm.Swap(false) {
				r.confirmCurrent()
			}
			continue
		}
		var batch []publicmask.Outlet
		expect := 0 // outlets once those held back are in; 0: none held back
		released := r.release
		if released {
			batch = r.released()
		} else {
			batch = make([]publicmask.Outlet, 0, len(r.pending))
			for _, o := range r.pending {
				batch = append(batch, o)
			}
			r.pending = emptied(r.pending)
			// In version order before it is held back, so that
			// deferred stays in that order.
			batch = r.holdBack(r.cur.Load(), byVersion(batch))
			if r.heldNew > 0 {
				expect = r.cur.Load().n + r.heldNew
			}
		}
		r.release = false
		r.mu.Unlock()
		if expect > 0 && expect >= r.resized+resizeStep {
			r.resize(expect)
		}
		// In version order, so that subscribers (the SSE stream's event
		// ids) see versions arrive in order.
		r.applyBatch(byVersion(batch))
		r.settle(seq)
		if released { // after settle: the bulk write's done waits for nothing of it
			r.keepSpare(batch)
		}
		if r.confirm.Swap(false) {
			r.confirmCurrent()
		}
	}
}

// byVersion returns batch sorted in version order, in place. A large
// batch (an import body's 100,000 outlets) is sorted by its versions and
// then permuted, not sorted as 160-byte Outlets.
func byVersion(batch []publicmask.Outlet) []publicmask.Outlet {
	if slices.IsSortedFunc(batch, func(a, b publicmask.Outlet) int { return cmp.Compare(a.Version, b.Version) }) {
		return batch // a batch held back in that order (released), or sorted already
	}
	if len(batch) < 1024 {
		slices.SortFunc(batch, func(a, b publicmask.Outlet) int { return cmp.Compare(a.Version, b.Version) })
		return batch
	}
	type key struct {
		v int64
		i int
	}
	keys := make([]key, len(batch))
	for i := range batch {
		keys[i] = key{batch[i].Version, i}
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Compare(a.v, b.v) })
	// Each Outlet moved once, in place, cycle by cycle (position j takes
	// the one at keys[j].i): no second batch allocated.
	for start := range keys {
		if keys[start].i < 0 {
			continue
		}
		tmp := batch[start]
		j := start
		for {
			from := keys[j].i
			keys[j].i = -1
			if from == start {
				batch[j] = tmp
				break
			}
			batch[j] = batch[from]
			j = from
		}
	}
	return batch
}

// resizeStep is how many held-back outlets move the budget during a bulk
// write: not every commit of a load (each moves the memory limit and logs).
// A variable for tests.
var resizeStep = 10_000

// resize calls OnResize with n outlets if it was last called with another
// number (only the apply goroutine calls it, and Start before that).
func (r *Refresher) resize(n int) {
	if r.opts.OnResize == nil || n == r.resized {
		return
	}
	r.resized = n
	r.opts.OnResize(n)
}

// confirmCurrent moves the current snapshot's as_of to now, at most once per
// ConfirmEvery. Only the apply goroutine swaps snapshots, so this cannot
// undo a batch applied meanwhile.
func (r *Refresher) confirmCurrent() {
	old := r.cur.Load()
	now := r.now()
	if now.Sub(old.asOf) < r.opts.ConfirmEvery {
		return
	}
	ns, expired := old.confirmed(now).Expire(now)
	r.swap(ns)
	if len(expired) > 0 {
		r.publish(expired, nil) // streams learn that those outlets stopped selling
	}
}

// confirmLoop confirms the snapshot of a refresher that does not poll: the
// ledger in the same process notifies it of every commit.
func (r *Refresher) confirmLoop(ctx context.Context) {
	t := time.NewTicker(r.opts.ConfirmEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.confirm.Store(true)
			r.signal()
		}
	}
}

func (r *Refresher) applyBatch(batch []publicmask.Outlet) {
	t0 := time.Now()
	old := r.cur.Load()
	now := r.now()
	// One change per code: batch is the pending map's changes, or the
	// held slice's with the pending ones merged in by code (released).
	ns, applied, moves := old.applyMoves(batch, now)
	if ns == old {
		return
	}
	r.swap(ns)
	r.applySec.Observe(time.Since(t0).Seconds())
	if ns.n != old.n {
		r.resize(ns.n)
	}
	r.version.Set(float64(ns.version))
	for _, e := range applied {
		if !e.UpdatedAt().IsZero() {
			r.freshness.Observe(max(now.Sub(e.UpdatedAt()).Seconds(), 0))
		}
	}
	r.publish(applied, moves)
}

// Poll reads the changes above the watermark from the source once and queues
// them like Notify. Cross-process public nodes call it every PollInterval.
func (r *Refresher) Poll(ctx context.Context) error {
	r.pollMu.Lock()
	defer r.pollMu.Unlock()
	now := time.Now()
	after := r.watermark
	// Re-read from the watermark of about LateCommitWindow ago (marks[0] is
	// the newest mark older than the window), so that a version that
	// committed after a higher one is not skipped. An ordered feed has no
	// such version: read only what is above the watermark.
	if len(r.marks) > 0 && !r.ordered {
		after = min(after, r.marks[0].v)
	}
	high := r.watermark
	var read []publicmask.Outlet
	for {
		changes, err := r.src.OutletChanges(ctx, after, r.opts.PollBatch)
		if err != nil {
			return err
		}
		read = append(read, changes...)
		for _, o := range changes {
			high = max(high, o.Version)
			after = max(after, o.Version)
		}
		if len(changes) < r.opts.PollBatch {
			break
		}
	}
	// The chain after the changes: an epoch started since the last poll's
	// chain was started from a version at least as high as what that poll
	// had read (NewEpoch, under the lock that orders versions), so in the
	// same history the data the node holds (up to its watermark before
	// this poll) is always a prefix of this chain. A store restored from a
	// backup and started has a chain in which it is not, once the node had
	// read beyond the backup; the changes just read are then of the
	// restored history, and are dropped with the rest.
	if hs, ok := r.src.(HistorySource); ok {
		mine := r.hist.Load()
		es, err := hs.Epochs(ctx)
		switch {
		case errors.Is(err, publicmask.ErrNoHistory):
			r.noHistory(err)
		case err != nil:
			return err
		case mine != nil && !es.Holds(mine.Latest(), r.watermark):
			return r.rebuild(ctx, mine.Latest(), r.watermark, es)
		default:
			r.hist.Store(&es)
		}
	}
	r.Notify(read)
	if high == r.watermark {
		// Nothing new: the snapshot is as current as the store was when
		// this poll read it (re-read changes are ignored by version).
		r.confirm.Store(true)
		r.signal()
	}
	r.watermark = high
	if r.ordered {
		return nil
	}
	// Keep marks within the window (plus the newest one older than it).
	cut := 0
	for cut < len(r.marks)-1 && now.Sub(r.marks[cut+1].at) > r.opts.LateCommitWindow {
		cut++
	}
	r.marks = append(r.marks[cut:], mark{now, high})
	return nil
}

// readHistory reads the source's chain of epochs, if it keeps one.
func (r *Refresher) readHistory(ctx context.Context) error {
	hs, ok := r.src.(HistorySource)
	if !ok {
		return nil
	}
	es, err := hs.Epochs(ctx)
	if errors.Is(err, publicmask.ErrNoHistory) {
		r.noHistory(err)
		return nil
	}
	if err != nil {
		return err
	}
	r.hist.Store(&es)
	return nil
}

// noHistory notes, once, that the chain of epochs cannot be read: the
// snapshots then carry no epoch (bare versions, as before epochs).
func (r *Refresher) noHistory(err error) {
	if r.warnedHistory.CompareAndSwap(false, true) {
		r.log.Warn("snapshot: following the store without its epochs: a database restored from a backup will not be noticed", "err", err)
	}
}

// rebuild is a poll's answer to a store whose history is no longer the
// one the node's snapshot follows (restored from a backup, or recreated):
// what the node holds cannot be patched, so it reads every outlet again
// and hands the new snapshot to the apply goroutine (swapRebuilt). r.pollMu
// is held.
func (r *Refresher) rebuild(ctx context.Context, mine string, high int64, es publicmask.Epochs) error {
	outlets, version, err := r.src.Outlets(ctx)
	if err == nil {
		err = r.readHistory(ctx) // after the outlets, as in Start
	}
	if err != nil {
		return err
	}
	r.log.Warn("snapshot: the store's history changed (restored from a backup or recreated); rebuilding, streams closed",
		"epoch", mine, "version", high, "store_epoch", es.Latest(), "store_version", version)
	s := build(outlets, version, r.now())
	r.mu.Lock()
	// What was notified or held back belongs to either history: the full
	// read replaces it, and the polls go on from its version.
	r.pending = emptied(r.pending)
	r.deferred, r.heldNew = nil, 0
	clear(r.deferredAt)
	r.rebuilt = s
	r.seq++
	r.mu.Unlock()
	r.watermark = version
	r.marks = []mark{{time.Now(), version}}
	r.signal()
	return nil
}

// swapRebuilt makes a rebuilt snapshot current and closes every stream:
// their clients hold data of the other history, and reconnect with a
// cursor of it, which gets them a reset. Batches of the other history not
// yet fanned out are dropped.
func (r *Refresher) swapRebuilt(s *Snapshot) {
	r.gen.Add(1) // before the swap: see History
	r.swap(s)
	r.version.Set(float64(s.version))
	r.resize(s.n)
	r.pubMu.Lock()
	r.pubQ = nil
	r.pubMu.Unlock()
	r.closeSubs()
}

// pollFailLogEvery is how often a poll that keeps failing is logged again:
// a public node polls ten times a second, and a line per failure buried the
// log (and filled its bounded queue) for as long as the store was away.
const pollFailLogEvery = 30 * time.Second

func (r *Refresher) pollLoop(ctx context.Context) {
	t := time.NewTicker(r.opts.PollInterval)
	defer t.Stop()
	var (
		failures         int
		since, lastLogAt time.Time // of the outage; monotonic
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := r.Poll(ctx)
			if ctx.Err() != nil {
				return
			}
			now := time.Now()
			switch {
			case err == nil && failures > 0:
				r.log.Info("snapshot: poll recovered", "failures", failures, "down_s", now.Sub(since).Seconds())
				failures = 0
			case err == nil:
			case failures == 0:
				failures, since, lastLogAt = 1, now, now
				r.log.Warn("snapshot: poll failed", "err", err)
			default:
				failures++
				if now.Sub(lastLogAt) >= pollFailLogEvery {
					lastLogAt = now
					r.log.Warn("snapshot: poll still failing", "err", err, "failures", failures, "down_s", now.Sub(since).Seconds())
				}
			}
		}
	}
}
