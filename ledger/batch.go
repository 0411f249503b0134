package ledger

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/ratelog"
)

// op is one request waiting for a group commit. run (or job's run) records
// it in tx and keeps its own result, in the variables run's closure
// captures or in the value that holds job; call do and batchReads, never
// run and reads directly (with job set they are nil and ignored). A business
// refusal is returned wrapped by reject: run must have written nothing
// then, so that a refusal never needs a rollback and never aborts the other
// requests of its batch; any other error aborts the whole batch (which is
// then retried one request at a time). run may be called more than once
// (batch retry, store retry): the last call's result is the one that
// committed.
type op struct {
	ctx  context.Context
	kind string
	// outlet is the first outlet the op locks; a batch runs its ops in
	// outlet order so that concurrent batches (several writers, several
	// ledger nodes) take outlet row locks in one order and cannot deadlock
	// on them.
	outlet string
	run    func(tx publicmask.Tx, b *batch) error
	// reads, if set, adds the rows run will read to a batch's prefetch
	// (see publicmask.Prefetcher); op.outlet is always added.
	reads func(r *publicmask.BatchReads)
	// job, if set, is run and reads as the methods of a value that holds
	// the op itself and its results (a sale's, saleOp): one allocation
	// where the two closures and the variables they capture were four.
	job opJob
	// outlets is how many outlets the op touches when that is more than
	// one (a bulk write's chunk): its batch's maps are sized for them
	// rather than grown from empty.
	outlets int
	done    chan error
	// queued, taken and decided time the op's hops for the wait metric:
	// submitted, its batch taken by a writer, its outcome sent.
	queued, taken, decided time.Time
	// by, if set, is when the request's wait for its outcome ends
	// (outcomeBy, from when the wait started; submit sets it when zero):
	// a sale that read the store before it was queued has spent part of
	// its wait already.
	by time.Time
}

// opJob is what an op runs (op.run) and reads (op.reads), as methods.
type opJob interface {
	record(tx publicmask.Tx, b *batch) error
	addReads(r *publicmask.BatchReads)
}

// do runs the op in tx (op.run).
func (o *op) do(tx publicmask.Tx, b *batch) error {
	if o.job != nil {
		return o.job.record(tx, b)
	}
	return o.run(tx, b)
}

// refusal marks a business refusal of one op (see op.run).
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// reject marks err as a refusal of this op alone.
func reject(err error) error { return &refusal{err: err} }

// refused returns the refusal that err carries, or nil.
func refused(err error) error {
	var r *refusal
	if errors.As(err, &r) {
		return r.err
	}
	return nil
}

// batch is the state shared by the requests of one commit.
type batch struct {
	now     time.Time
	outlets map[string]*publicmask.Outlet // read or written in this batch
	changed []string                      // codes, in first-change order
	seen    map[string]bool               // the codes in changed
}

// newBatch is a batch for ops that touch about n outlets (0: unknown).
func newBatch(now time.Time, n int) *batch {
	b := &batch{now: now, outlets: make(map[string]*publicmask.Outlet, n), seen: make(map[string]bool, n)}
	if n > 0 {
		b.changed = make([]string, 0, n)
	}
	return b
}

// outlet returns the outlet as this batch sees it (its own writes included).
func (b *batch) outlet(tx publicmask.Tx, code string) (*publicmask.Outlet, error) {
	if o, ok := b.outlets[code]; ok {
		return o, nil
	}
	o, err := tx.LockOutlet(code)
	if err != nil {
		return nil, err
	}
	b.outlets[code] = &o
	return &o, nil
}

// save writes an outlet and remembers it for the commit notification.
func (b *batch) save(tx publicmask.Tx, o *publicmask.Outlet) error {
	o.UpdatedAt = b.now
	if err := tx.SaveOutlet(o); err != nil {
		return err
	}
	if !b.seen[o.Code] {
		b.seen[o.Code] = true
		b.changed = append(b.changed, o.Code)
	}
	b.outlets[o.Code] = o
	return nil
}

// submit queues an op and waits for its commit, for at most OutcomeWait
// from o.by (or from now, when o.by is zero), and no later than the
// request's answer is due (outcomeBy): DESIGN.md §4 has the server answer
// before the counter's own 3 s cutoff, counted from the request's arrival.
// A store that does not answer meanwhile (a partitioned PostgreSQL holds a
// batch until its WriteTimeout, 15 s) gets the request 503
// store_unavailable with Retry-After, and the op goes on: it may still
// commit, which its txn_id's retry then finds (the first answer again), or
// fail, and the retry records it once. If its batch has not started by the
// time the request has ended, it records nothing (commit). A request whose
// time was spent before it got here is not queued: 503 overloaded, nothing
// recorded.
func (l *Ledger) submit(ctx context.Context, o *op) error {
	if o.by.IsZero() {
		o.by = l.outcomeBy(ctx, time.Now())
	}
	wait := time.Until(o.by)
	if wait <= 0 {
		return errNoTimeLeft
	}
	t := outcomeTimers.Get().(*time.Timer)
	t.Reset(wait)
	defer outcomeTimers.Put(t)
	defer t.Stop()
	done := donePool.Get().(chan error)
	o.done = done
	if err := l.enqueue(ctx, o, t.C); err != nil {
		donePool.Put(done) // never queued: nothing will send on it
		return err
	}
	var err error
	select {
	case err = <-done:
	case <-t.C:
		// Once queued, the op is committed or refused whatever the caller
		// does; its outcome will come on done, which is therefore not
		// pooled again, and no answer has been given that could be lost.
		l.m.outcomeLate.Inc()
		return publicmask.Errorf(publicmask.EStoreUnavailable, "the store did not answer in time; retry with the same txn_id")
	}
	// The op was decided once (decide) and its outcome taken: the channel
	// is empty and nothing else sends on it.
	o.done = nil
	donePool.Put(done)
	if !o.decided.IsZero() {
		l.m.queueWait.Observe(o.taken.Sub(o.queued).Seconds())
		l.m.commitWait.Observe(o.decided.Sub(o.taken).Seconds())
		l.m.wakeWait.Observe(time.Since(o.decided).Seconds())
	}
	return err
}

// errNoTimeLeft refuses a request that reached the ledger after its
// answer was due (it waited for admission, or its client sent it slowly).
var errNoTimeLeft = publicmask.Errorf(publicmask.EOverloaded, "the request waited too long to be served; retry shortly")

// outcomeTimers are submit's timers, stopped: one a request otherwise.
var outcomeTimers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// donePool keeps the outcome channels of submitted ops (op.done): two
// allocations a sale otherwise.
var donePool = sync.Pool{New: func() any { return make(chan error, 1) }}

// enqueue queues an op; its outcome comes on o.done (made here unless the
// caller gave one, buffered for one outcome). A full queue is waited for
// until ctx ends or giveUp fires (nil: never), then 503 overloaded.
func (l *Ledger) enqueue(ctx context.Context, o *op, giveUp <-chan time.Time) error {
	o.ctx = ctx
	if o.done == nil {
		o.done = make(chan error, 1)
	}
	o.queued = time.Now()
	l.arrived.Add(1)
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return publicmask.Errorf(publicmask.EOverloaded, "the ledger is shutting down")
	}
	select {
	case l.queue <- o:
		l.mu.RUnlock()
	case <-ctx.Done():
		l.mu.RUnlock()
		return ctx.Err()
	case <-giveUp:
		l.mu.RUnlock()
		return publicmask.Errorf(publicmask.EOverloaded, "the ledger's queue stayed full")
	}
	return nil
}

func (l *Ledger) writeLoop() {
	defer l.writers.Done()
	ops := make([]*op, 0, l.cfg.MaxBatch)
	timer := time.NewTimer(time.Hour) // gather's, stopped until then
	timer.Stop()
	for {
		var ok bool
		if ops, ok = l.form(ops[:0], timer); !ok {
			return
		}
		taken := time.Now()
		for _, o := range ops {
			o.taken = taken
		}
		l.commit(ops)
		// The slice is reused: an op left in it would keep its closure —
		// a delivery list or an import body, whole — reachable until a
		// later batch of as many ops overwrote it (~16 MB after the
		// opening deliveries at 540,000; BENCHMARKS.md, branch heap20).
		clear(ops)
	}
}

// form appends the next batch to ops: the first request queued, what else
// is queued already (up to MaxBatch), and, with GatherWait, what gather
// waits for; false once the queue is closed and empty.
func (l *Ledger) form(ops []*op, t *time.Timer) ([]*op, bool) {
	first, ok := <-l.queue
	if !ok {
		return ops, false
	}
	ops = append(ops, first)
	for len(ops) < l.cfg.MaxBatch {
		select {
		case o, ok := <-l.queue:
			if !ok {
				return l.gather(ops, t), true
			}
			ops = append(ops, o)
		default:
			return l.gather(ops, t), true
		}
	}
	return l.gather(ops, t), true
}

// gather, with Config.GatherWait set, holds a batch of fewer than
// GatherBelow requests back until GatherWait after its first request was
// queued, taking what arrives meanwhile (PostgreSQL's commit_delay, by
// batch size rather than by sibling transactions).
//
// Below capacity batches were tiny: at 1,400 sales/s a batch held 3.6
// sales on average, and each paid a transaction, its WAL frames (the same
// outlet and person-week leaves again), a WAL flush and a snapshot patch:
// ~1 ms of CPU a batch, 330–400 µs a sale against ~150 at capacity, on two
// cores the HTTP handlers and the load generator share (issue 12: a sale's
// tail there is its wait for a core). A batch that has gathered
// GatherBelow starts at once, so that near capacity nothing waits.
//
// A batch waits only when the wait will pay: while requests arrive at
// least gatherCompany times per GatherWait (gap, measured over the
// arrivals of the last gapWindow), so that a batch held is expected to
// start with several more. A slower node gains too little from a wait to
// pay for it: at 300 sales/s (a request every 3.3 ms; bench.sh step 6) a
// held batch found 0.2–0.5 more requests (BenchmarkPacedSales: the other
// writer, idle on the queue, takes the next request and may hold it in
// turn), while the wait ended on a timer, a wake-up the node's threads
// must be scheduled for, on cores busy with a read flood (BENCHMARKS.md,
// branch flood16). A node quiet for a whole window holds nothing; a burst
// followed by silence is averaged over its window, and can still make the
// next window's small batches wait, each at most GatherWait.
func (l *Ledger) gather(ops []*op, t *time.Timer) []*op {
	if l.cfg.GatherWait <= 0 {
		return ops
	}
	l.gap.observe(time.Now(), l.arrived.Load())
	if len(ops) >= l.cfg.GatherBelow || !l.mayHold() {
		return ops
	}
	start, n0 := time.Now(), len(ops)
	wait := l.cfg.GatherWait - start.Sub(ops[0].queued)
	if wait <= 0 {
		return ops
	}
	t.Reset(wait)
	defer func() {
		t.Stop()
		if l.m != nil {
			l.m.gathered.Inc()
			l.m.gatherSeconds.Add(time.Since(start).Seconds())
			l.m.gatherJoined.Add(float64(len(ops) - n0))
		}
	}()
	for len(ops) < l.cfg.GatherBelow {
		select {
		case o, ok := <-l.queue:
			if !ok {
				return ops
			}
			ops = append(ops, o)
		case <-t.C:
			return ops
		}
	}
	return ops
}

// mayHold reports whether gather may hold a batch: GatherWait is set and
// requests arrive at least gatherCompany per GatherWait (the last gap
// measured).
func (l *Ledger) mayHold() bool {
	if l.cfg.GatherWait <= 0 {
		return false
	}
	gap := time.Duration(l.gap.last.Load())
	return gap > 0 && gap*gatherCompany <= l.cfg.GatherWait
}

const (
	// gatherCompany: a batch is held only while GatherWait sees at least
	// this many arrivals (gather).
	gatherCompany = 3
	// gapWindow: the arrival gap is the mean over a window at least this
	// long (arrivalGap), so that a burst shorter than it (a load generator
	// descheduled, then catching up) is averaged with the quiet around it;
	// a longer silence before it still counts (the burst's window opens
	// at the first batch taken after the silence's).
	gapWindow = 25 * time.Millisecond
)

// arrivalGap estimates the mean time between requests from the count of
// requests queued (Ledger.arrived): over the last window of at least
// gapWindow, closed by the first batch taken after it. A node gone quiet
// shows its silence at its next batch (the window then spans it).
type arrivalGap struct {
	mu    sync.Mutex
	start time.Time // of the open window
	n     int64     // arrivals counted at start
	mean  time.Duration
	last  atomic.Int64 // mean, read without mu (Ledger.mayHold)
}

// observe notes that arrived requests had been queued by now and returns
// the mean gap between them over the last closed window (0: unknown).
func (a *arrivalGap) observe(now time.Time, arrived int64) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.start.IsZero() {
		a.start, a.n = now, arrived
		return 0
	}
	if el := now.Sub(a.start); el >= gapWindow {
		if d := arrived - a.n; d > 0 {
			a.mean = el / time.Duration(d)
		} else {
			a.mean = el
		}
		a.start, a.n = now, arrived
		a.last.Store(int64(a.mean))
	}
	return a.mean
}

// commit runs ops in one transaction; if the transaction fails for a reason
// other than the store being down, each op is retried alone so that one bad
// request cannot take its batch-mates down with it.
func (l *Ledger) commit(ops []*op) {
	// Requests that ended before their batch started record nothing
	// (commitOnce): they are answered now, not after a write that a store
	// partitioned away would hold for its whole timeout.
	live := ops[:0]
	for _, o := range ops {
		if err := o.ctx.Err(); err != nil {
			decide([]*op{o}, func(int) error { return err })
			continue
		}
		live = append(live, o)
	}
	if ops = live; len(ops) == 0 {
		return
	}
	results, changed, err := l.commitOnce(ops)
	if err != nil && len(ops) > 1 && publicmask.ErrorCode(err) != publicmask.EStoreUnavailable {
		l.log.Warn("batch failed; retrying its requests one by one", "size", len(ops), "err", err)
		for _, o := range ops {
			l.commit([]*op{o})
		}
		return
	}
	if err != nil {
		l.commitFails.Occurred(len(ops), func() {
			l.log.Error("commit failed", "size", len(ops), "err", err)
		}, func(s ratelog.Stats) {
			l.log.Error("commits still failing", "batches", s.Count, "requests", s.Weight, "failing_s", time.Since(s.Since).Seconds(), "err", err)
		})
		if publicmask.ErrorCode(err) == publicmask.EInternal {
			err = publicmask.Errorf(publicmask.EStoreUnavailable, "the sale could not be recorded; retry with the same txn_id")
		}
		decide(ops, func(int) error { return err })
		return
	}
	if l.commitFails.Active() {
		l.commitFails.End(func(s ratelog.Stats) {
			l.log.Info("commits succeed again", "failed_batches", s.Count, "failed_requests", s.Weight, "failing_s", time.Since(s.Since).Seconds())
		})
	}
	if len(changed) > 0 && l.cfg.OnCommit != nil {
		l.cfg.OnCommit(changed)
	}
	decide(ops, func(i int) error { return results[i] })
}

// commitFailLogEvery is how often commits that keep failing are logged
// again. A full disk or a failed flush fails every batch of a rush: a line
// each was thousands a second (8,874 in 13 s with eight counters), burying
// the cause and writing to the disk that is full.
const commitFailLogEvery = 10 * time.Second

// decide sends each op its outcome, stamped with the time it was decided.
func decide(ops []*op, outcome func(i int) error) {
	now := time.Now()
	for i, o := range ops {
		o.decided = now
		o.done <- outcome(i)
	}
}

func (l *Ledger) commitOnce(ops []*op) ([]error, []publicmask.Outlet, error) {
	start := time.Now()
	// Results are indexed by position in ops: sort a copy of the order.
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ops[a].outlet, ops[b].outlet) })
	results := make([]error, len(ops))
	var changed []publicmask.Outlet
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b *batch
	touches := 0 // of the bulk chunks: sales' batches are left as they were
	for _, o := range ops {
		touches += o.outlets
	}
	err := l.store.Write(ctx, func(tx publicmask.Tx) error {
		// The stores keep microseconds: a batch's time is what they will
		// give back, so a first answer and its replay read the same.
		b = newBatch(l.Now().Truncate(time.Microsecond), touches)
		if pf, ok := tx.(publicmask.Prefetcher); ok {
			if err := pf.Prefetch(batchReads(ops, order)); err != nil {
				return err
			}
		}
		for _, i := range order {
			o := ops[i]
			if err := o.ctx.Err(); err != nil {
				results[i] = err // the client left before we started: record nothing
				continue
			}
			err := o.do(tx, b)
			if results[i] = refused(err); err != nil && results[i] == nil {
				return err
			}
		}
		return nil
	})
	l.m.commitSeconds.Observe(time.Since(start).Seconds())
	l.m.batchSize.Observe(float64(len(ops)))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = publicmask.Errorf(publicmask.EStoreUnavailable, "the store did not answer in time")
		}
		return nil, nil, err
	}
	// Versions are read after Write returns: a store may stamp them at
	// commit time (PostgreSQL does, so that they commit in order).
	changed = make([]publicmask.Outlet, 0, len(b.changed))
	for _, code := range b.changed {
		changed = append(changed, *b.outlets[code])
	}
	slices.SortFunc(changed, func(x, y publicmask.Outlet) int { return cmp.Compare(x.Version, y.Version) })
	return results, changed, nil
}

// batchReads collects what the ops still waited for will read.
func batchReads(ops []*op, order []int) publicmask.BatchReads {
	r := publicmask.BatchReads{Outlets: make([]string, 0, len(ops)), Idem: make([]publicmask.IdemKey, 0, len(ops))}
	for _, i := range order {
		o := ops[i]
		if o.ctx.Err() != nil {
			continue
		}
		if o.outlet != "" {
			r.Outlets = append(r.Outlets, o.outlet)
		}
		if o.job != nil {
			o.job.addReads(&r)
		} else if o.reads != nil {
			o.reads(&r)
		}
	}
	return r
}
