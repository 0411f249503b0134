package ledger_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/rrn/rrntest"
)

// readThenHold reads tokens from the store and then, the first time,
// signals read and waits for hold: a read whose answer arrives after a
// revocation made meanwhile (a statement's snapshot taken before it).
type readThenHold struct {
	publicmask.Store
	bulk       bool
	paused     atomic.Bool
	read, hold chan struct{}
}

// pause holds the first read only; the revocation's own read passes.
func (s *readThenHold) pause() {
	if s.paused.CompareAndSwap(false, true) {
		close(s.read)
		<-s.hold
	}
}

func (s *readThenHold) Token(ctx context.Context, h string) (publicmask.Token, error) {
	t, err := s.Store.Token(ctx, h)
	if !s.bulk {
		s.pause()
	}
	return t, err
}

// bulkReadThenHold is readThenHold with bulk reads (publicmask.TokenReader).
type bulkReadThenHold struct{ *readThenHold }

func (s bulkReadThenHold) Tokens(ctx context.Context, hashes []string) (map[string]publicmask.Token, error) {
	out := make(map[string]publicmask.Token)
	for _, h := range hashes {
		if t, err := s.Store.Token(ctx, h); err == nil {
			out[h] = t
		}
	}
	s.pause()
	return out, nil
}

// A token revoked on this node while a read of it that began before is on
// its way stays refused here: the read's answer does not replace the
// revocation in the cache (found by a review: a forgotten token was cached
// valid again, for the cache's TTL — 15 minutes on SQLite). Both the
// single read and the gathered bulk rounds (PostgreSQL).
func TestTokenRevokedDuringItsRead(t *testing.T) {
	for _, bulk := range []bool{false, true} {
		t.Run(map[bool]string{false: "single", true: "bulk"}[bulk], func(t *testing.T) {
			e := testenv.New(t)
			e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 10)
			tok, err := e.Ledger.IssueToken(ctx, publicmask.RoleOutlet, "10000001") // issued by another node
			if err != nil {
				t.Fatal(err)
			}
			rh := &readThenHold{Store: e.Store, bulk: bulk, read: make(chan struct{}), hold: make(chan struct{})}
			var st publicmask.Store = rh
			if bulk {
				st = bulkReadThenHold{rh}
			}
			keyer, _ := rrntest.Keyer(t)
			l, err := ledger.New(ledger.Config{Store: st, Policy: policy.NewHolder(policy.Standard()), Keyer: keyer, Clock: e.Clock, TokenCacheTTL: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close(ctx)
			done := make(chan error, 1)
			go func() { _, err := l.Authenticate(ctx, tok); done <- err }()
			<-rh.read // the read found the token valid
			if err := l.RevokeToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			close(rh.hold)
			<-done
			if _, err := l.Authenticate(ctx, tok); publicmask.ErrorCode(err) != publicmask.EUnauthorized {
				t.Fatalf("a token revoked here, after a read begun before: %v, want unauthorized", err)
			}
		})
	}
}

// A token noted for re-reading just as the last round found none (and so
// saw a round on its way and started none) is still re-read ahead: the
// round that ends looks again (found by a review: it waited for another
// token's round, or its expiry).
func TestTokenNotedAsTheRoundEnds(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 10)
	e.AddOutlet(t, "10000002", publicmask.TypePharmacy, 10)
	st := &bulkTokens{Store: e.Store}
	keyer, _ := rrntest.Keyer(t)
	// Long enough that late's entry, in its last quarter at 0.8 TTL, is
	// still live when the round ends two round delays (0.4 s) later.
	const ttl = 3 * time.Second
	l, err := ledger.New(ledger.Config{Store: st, Policy: policy.NewHolder(policy.Standard()), Keyer: keyer, Clock: e.Clock, TokenCacheTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	first, err := l.IssueToken(ctx, publicmask.RoleOutlet, "10000001")
	if err != nil {
		t.Fatal(err)
	}
	issued := time.Now()
	late, err := l.IssueToken(ctx, publicmask.RoleOutlet, "10000002")
	if err != nil {
		t.Fatal(err)
	}
	var fired atomic.Bool
	defer ledger.SetRefreshEmptyHook(func() {
		if fired.CompareAndSwap(false, true) {
			l.CachedToken(late) // noted while the round ends
		}
	})()
	time.Sleep(time.Until(issued.Add(ttl * 8 / 10)))
	l.CachedToken(first) // starts a round: it re-reads first, then finds none
	for deadline := time.Now().Add(3 * time.Second); st.calls.Load() < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d bulk reads: the token noted as the round ended was not re-read ahead", st.calls.Load())
		}
	}
	if !fired.Load() {
		t.Fatal("the hook never ran: the test did not reach the interleaving")
	}
}

// A re-reading round (refreshAhead) whose bulk read began before this
// node's revocation and ends after it must not bring the token back as
// valid (its compare and swap must lose to the revocation).
func TestRefreshRoundLosesToRevocation(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 10)
	rh := &readThenHold{Store: e.Store, bulk: true, read: make(chan struct{}), hold: make(chan struct{})}
	keyer, _ := rrntest.Keyer(t)
	const ttl = 2 * time.Second
	l, err := ledger.New(ledger.Config{Store: bulkReadThenHold{rh}, Policy: policy.NewHolder(policy.Standard()), Keyer: keyer, Clock: e.Clock, TokenCacheTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	tok, err := l.IssueToken(ctx, publicmask.RoleOutlet, "10000001") // cached valid, no read
	if err != nil {
		t.Fatal(err)
	}
	issued := time.Now() // after the issue's store write, which caches the token once done
	time.Sleep(time.Until(issued.Add(ttl * 8 / 10)))
	if _, _, ok, err := l.CachedToken(tok); !ok || err != nil { // noted: a round starts
		t.Fatal(ok, err)
	}
	select {
	case <-rh.read: // the round's bulk read found it valid and waits
	case <-time.After(3 * time.Second):
		t.Fatal("no re-reading round")
	}
	if err := l.RevokeToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	close(rh.hold)
	for deadline := time.Now().Add(2 * time.Second); l.TokenBulkReads() < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the round never ended")
		}
	}
	time.Sleep(50 * time.Millisecond) // the round's compare and swap
	if _, _, ok, err := l.CachedToken(tok); !ok || publicmask.ErrorCode(err) != publicmask.EUnauthorized {
		t.Fatalf("revoked here during a re-reading round: cached %v %v, want revoked", ok, err)
	}
}
