package ledger_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/rrn/rrntest"
)

// bulkTokens gives a store publicmask.TokenReader, as PostgreSQL has it.
type bulkTokens struct {
	publicmask.Store
	calls atomic.Int64
	hold  chan struct{} // if set, reads wait for it to close
}

func (b *bulkTokens) Tokens(ctx context.Context, hashes []string) (map[string]publicmask.Token, error) {
	b.calls.Add(1)
	if b.hold != nil {
		<-b.hold
	}
	out := make(map[string]publicmask.Token)
	for _, h := range hashes {
		t, err := b.Token(ctx, h)
		if publicmask.ErrorCode(err) == publicmask.ENotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[h] = t
	}
	return out, nil
}

// A token used in the last quarter of its cache entry's life is re-read in
// bulk before the entry expires, so its requests never wait for a read of
// their own; a token not used then expires as before; and a revocation
// made elsewhere (another node, straight into the store) is seen by the
// next re-reading, within the cache's TTL as without it.
func TestTokensReadAhead(t *testing.T) {
	e := testenv.New(t) // its store, its outlets; a second ledger with a short TTL reads tokens
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 10)
	e.AddOutlet(t, "10000002", publicmask.TypePharmacy, 10)
	st := &bulkTokens{Store: e.Store}
	keyer, _ := rrntest.Keyer(t)
	const ttl = time.Second
	l, err := ledger.New(ledger.Config{Store: st, Policy: policy.NewHolder(policy.Standard()), Keyer: keyer, Clock: e.Clock, TokenCacheTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	toks, missing, err := l.IssueOutletTokens(ctx, []string{"10000001", "10000002"})
	if err != nil || len(missing) != 0 {
		t.Fatal(missing, err)
	}
	// After the issue, which caches the tokens once its store write is
	// done: timed from before it, a write slowed past 50 ms (a loaded
	// machine's fsync) left the token short of its last quarter at 0.8 TTL.
	issued := time.Now()
	used, idle := toks["10000001"], toks["10000002"]
	time.Sleep(time.Until(issued.Add(ttl * 8 / 10)))
	if _, _, ok, err := l.CachedToken(used); !ok || err != nil {
		t.Fatalf("token in its last quarter: %v %v", ok, err)
	}
	waitBulk := func(n int64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); l.TokenBulkReads() < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d bulk token reads, want %d", l.TokenBulkReads(), n)
			}
		}
	}
	waitBulk(1)
	time.Sleep(time.Until(issued.Add(ttl * 11 / 10)))
	if _, _, ok, err := l.CachedToken(used); !ok || err != nil {
		t.Fatalf("a token in use, after its first entry's expiry: %v %v; want it re-read ahead", ok, err)
	}
	if _, _, ok, _ := l.CachedToken(idle); ok {
		t.Fatal("an idle token still cached after the TTL")
	}
	if n := l.TokenStoreReads(); n != 0 {
		t.Fatalf("%d first-sight token reads, want none", n)
	}
	if n := st.calls.Load(); n != 1 {
		t.Fatalf("%d bulk reads, want 1", n)
	}

	// Revoked on another node: this one sees it by the next re-reading.
	if err := e.Ledger.RevokeToken(ctx, used); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for time.Since(revoked) < 3*ttl {
		if _, _, ok, err := l.CachedToken(used); ok && publicmask.ErrorCode(err) == publicmask.EUnauthorized {
			if time.Since(revoked) > ttl+500*time.Millisecond {
				t.Fatalf("revocation seen after %v, TTL %v", time.Since(revoked), ttl)
			}
			return
		} else if !ok {
			if _, err := l.Authenticate(ctx, used); publicmask.ErrorCode(err) != publicmask.EUnauthorized {
				t.Fatalf("revoked token after expiry: %v", err)
			}
			t.Fatal("the revoked token was not re-read ahead: it expired")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the revocation was never seen")
}

var _ publicmask.TokenReader = (*bulkTokens)(nil)

// Tokens a node sees first (issued by another node) are read in rounds of
// one statement each: while the first rounds are on their way, the other
// requests' tokens gather into one more.
func TestTokensFirstSightGathered(t *testing.T) {
	e := testenv.New(t)
	const n = 50
	codes := make([]string, n)
	for i := range codes {
		codes[i] = fmt.Sprintf("%08d", 10000001+i)
		e.AddOutlet(t, codes[i], publicmask.TypePharmacy, 10)
	}
	toks, _, err := e.Ledger.IssueOutletTokens(ctx, codes) // the other node issues them
	if err != nil {
		t.Fatal(err)
	}
	st := &bulkTokens{Store: e.Store, hold: make(chan struct{})}
	keyer, _ := rrntest.Keyer(t)
	l, err := ledger.New(ledger.Config{Store: st, Policy: policy.NewHolder(policy.Standard()), Keyer: keyer, Clock: e.Clock})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	errs := make(chan error, n+1)
	for _, c := range codes {
		go func() {
			tok, err := l.Authenticate(ctx, toks[c])
			if err == nil && tok.Outlet != c {
				err = fmt.Errorf("token of %s read as %s's", c, tok.Outlet)
			}
			errs <- err
		}()
	}
	go func() {
		if _, err := l.Authenticate(ctx, "pm_o_madeup"); publicmask.ErrorCode(err) != publicmask.EUnauthorized {
			errs <- fmt.Errorf("made-up token: %v", err)
			return
		}
		errs <- nil
	}()
	for deadline := time.Now().Add(5 * time.Second); st.calls.Load() < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d rounds on their way, want 2", st.calls.Load())
		}
	}
	time.Sleep(100 * time.Millisecond) // the others gather
	close(st.hold)
	for range n + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := st.calls.Load(); got > 4 {
		t.Fatalf("%d statements for %d first sights, want them gathered (at most 4)", got, n+1)
	}
	if _, _, ok, err := l.CachedToken(toks[codes[0]]); !ok || err != nil {
		t.Fatalf("a token read in a round is not cached: %v %v", ok, err)
	}
}
