package ledger

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/publicmask/publicmask"
)

// TokenStoreReads is how many times the store was read for a token.
func (l *Ledger) TokenStoreReads() int64 { return l.tokens.reads.Load() }

// SetMaxUnknownTokens shrinks the unknown-token cache for a test.
func SetMaxUnknownTokens(n int64) (restore func()) {
	old := maxUnknownTokens
	maxUnknownTokens = n
	return func() { maxUnknownTokens = old }
}

// Reject marks a refusal, as the ledger's own operations do.
var Reject = reject

// CommitOps runs each of runs as one operation of a single group commit
// and returns each one's outcome.
func (l *Ledger) CommitOps(runs ...func(tx publicmask.Tx) error) []error {
	ops := make([]*op, len(runs))
	for i, run := range runs {
		ops[i] = testOp(context.Background(), "", run)
	}
	l.commit(ops)
	out := make([]error, len(ops))
	for i, o := range ops {
		out[i] = <-o.done
	}
	return out
}

// SellBeside commits req as a sale's op (saleOp) in one group commit with
// other after it, and returns the sale's receipt and outcome as sell would
// see them, and other's outcome.
func (l *Ledger) SellBeside(ctx context.Context, req SaleRequest, other func(tx publicmask.Tx) error) (*Receipt, error, error) {
	p, err := l.prepare(ctx, req, time.Now().Add(time.Minute))
	if err != nil {
		return nil, err, nil
	}
	so := testSaleOp(ctx, req, p)
	o := testOp(ctx, req.Outlet, other)
	l.commit([]*op{&so.op, o})
	saleErr, otherErr := <-so.done, <-o.done
	return so.r, saleErr, otherErr
}

// TokenBulkReads is how many bulk token reads the re-reading ahead made.
func (l *Ledger) TokenBulkReads() int64 { return l.tokens.bulkReads.Load() }

// SetRefreshEmptyHook runs f when a re-reading round finds no token noted,
// before it ends.
func SetRefreshEmptyHook(f func()) (restore func()) {
	old := refreshEmptyHook.Swap(&f)
	return func() { refreshEmptyHook.Store(old) }
}

// SellAround commits reqs as sales' ops and other as an op of outlet
// otherOutlet, all in one group commit (which runs them in outlet order),
// and returns each sale's outcome and other's.
func (l *Ledger) SellAround(ctx context.Context, reqs []SaleRequest, otherOutlet string, other func(tx publicmask.Tx) error) ([]error, error) {
	var ops []*op
	var sos []*saleOp
	for _, req := range reqs {
		p, err := l.prepare(ctx, req, time.Now().Add(time.Minute))
		if err != nil {
			return nil, err
		}
		so := testSaleOp(ctx, req, p)
		sos = append(sos, so)
		ops = append(ops, &so.op)
	}
	o := testOp(ctx, otherOutlet, other)
	l.commit(append(ops, o))
	errs := make([]error, len(sos))
	for i, so := range sos {
		errs[i] = <-so.done
	}
	return errs, <-o.done
}

// testSaleOp is a sale's op as sell makes it, with its own done channel
// for a test that commits it directly.
func testSaleOp(ctx context.Context, req SaleRequest, p *prepared) *saleOp {
	so := &saleOp{op: op{ctx: ctx, kind: "sale", outlet: req.Outlet, done: make(chan error, 1)}, p: p, req: req, hash: saleHash(req, p.ps)}
	so.job = so
	return so
}

// testOp is an op of outlet that runs run in the group commit's transaction.
func testOp(ctx context.Context, outlet string, run func(tx publicmask.Tx) error) *op {
	return &op{ctx: ctx, kind: "test", outlet: outlet, done: make(chan error, 1),
		run: func(tx publicmask.Tx, _ *batch) error { return run(tx) }}
}

// SetTokenFollowEvery shortens how often a ledger checks the token count.
// Set it before the ledger is made.
func SetTokenFollowEvery(d time.Duration) (restore func()) {
	old := tokenFollowEvery
	tokenFollowEvery = d
	return func() { tokenFollowEvery = old }
}

// SetTokenCatchUpEvery changes how far apart catch-ups start.
func SetTokenCatchUpEvery(d time.Duration) (restore func()) {
	old := tokenCatchUpEvery
	tokenCatchUpEvery = d
	return func() { tokenCatchUpEvery = old }
}

// TokenListings is how many listings of tokens the ledger ran (at start,
// following, catching up) and how many hashes they listed in all.
func (l *Ledger) TokenListings() (listings, rows int64) {
	return l.follow.listed.Load(), l.follow.rows.Load()
}

// KnowsIssued reports whether the node's issued set (listAllTokens) holds
// token.
func (l *Ledger) KnowsIssued(token string) bool {
	sum := sha256.Sum256([]byte(token))
	return l.tokens.wasIssued(&sum)
}

// IssuedSet is the length and capacity of the node's issued set.
func (l *Ledger) IssuedSet() (n, capacity int) {
	p := l.tokens.issued.Load()
	if p == nil {
		return 0, 0
	}
	return len(*p), cap(*p)
}
