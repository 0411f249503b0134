package ledger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/rrn/rrntest"
)

// secondNode starts another ledger on e's store, as a second PostgreSQL
// node would be.
func secondNode(t *testing.T, e *testenv.Env) *ledger.Ledger {
	t.Helper()
	keyer, _ := rrntest.Keyer(t)
	node, err := ledger.New(ledger.Config{Store: e.Store, Policy: policy.NewHolder(policy.Standard()), Keyer: keyer, Clock: e.Clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close(ctx) })
	return node
}

// A token issued on another node a moment ago, before this node's next
// count check, is not refused by a guard that refuses every look-up (a
// flood from its address): the node catches up with the tokens issued since
// its last listing before refusing. On main (b2477f5) it was refused until
// the next check (2 s), here made an hour.
func TestTokenIssuedElsewhereCatchesUp(t *testing.T) {
	t.Cleanup(ledger.SetTokenFollowEvery(time.Hour))
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 10)
	if _, err := e.Ledger.IssueToken(ctx, publicmask.RoleOutlet, "10000001"); err != nil {
		t.Fatal(err)
	}
	node := secondNode(t, e)
	guarded := 0
	refuse := ledger.WithAuthGuard(ctx, func() (func(bool), error) {
		guarded++
		return nil, publicmask.Errorf(publicmask.ERateLimited, "flooded")
	})
	for i := range 3 {
		e.Clock.Set(e.Clock.Now().Add(time.Second))
		tok, err := e.Ledger.IssueToken(ctx, publicmask.RoleOutlet, "10000001")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := node.Authenticate(refuse, tok); err != nil || got.Outlet != "10000001" {
			t.Fatalf("token %d, issued on the other node a moment ago: %+v %v", i, got, err)
		}
	}
	if _, err := node.Authenticate(refuse, "pm_o_madeup"); publicmask.ErrorCode(err) != publicmask.ERateLimited {
		t.Fatalf("a made-up token behind the refusing guard: %v", err)
	}
	if guarded != 4 {
		t.Fatalf("guard consulted %d times, want 4 (each token once, before the catch-up)", guarded)
	}
}

// Catch-ups are one listing for every request that waits meanwhile, at
// most one an interval: a flood of made-up tokens costs the store a
// bounded number of listings, whatever its size.
func TestTokenCatchUpsAreSpaced(t *testing.T) {
	t.Cleanup(ledger.SetTokenFollowEvery(time.Hour))
	t.Cleanup(ledger.SetTokenCatchUpEvery(100 * time.Millisecond))
	e := testenv.New(t)
	node := secondNode(t, e)
	refuse := ledger.WithAuthGuard(ctx, func() (func(bool), error) {
		return nil, publicmask.Errorf(publicmask.ERateLimited, "flooded")
	})
	before, _ := node.TokenListings()
	start := time.Now()
	done := make(chan error)
	const n = 200
	for i := range n {
		go func() {
			_, err := node.Authenticate(refuse, fmt.Sprintf("pm_o_forged%04d", i))
			done <- err
		}()
	}
	for range n {
		if err := <-done; publicmask.ErrorCode(err) != publicmask.ERateLimited {
			t.Fatalf("a made-up token: %v, want rate_limited", err)
		}
	}
	took := time.Since(start)
	after, _ := node.TokenListings()
	if max := int64(took/(100*time.Millisecond)) + 2; after-before > max {
		t.Fatalf("%d forged look-ups in %v cost %d listings, want at most %d", n, took, after-before, max)
	}
	t.Logf("%d forged look-ups in %v: %d listings", n, took.Round(time.Millisecond), after-before)
}

// Following lists the tokens issued since the last listing, not every
// token: with 2,000 tokens issued an hour before, a new one costs a
// listing of one row. On main (b2477f5) every change of the count
// listed all the tokens again.
func TestTokenFollowListsTheNewOnly(t *testing.T) {
	t.Cleanup(ledger.SetTokenFollowEvery(20 * time.Millisecond))
	e := testenv.New(t)
	codes := make([]string, 2000)
	for i := range codes {
		codes[i] = fmt.Sprintf("1%07d", i+1)
	}
	outlets := make([]publicmask.Outlet, len(codes))
	for i, c := range codes {
		outlets[i] = publicmask.Outlet{Code: c, Name: "약국", Addr: "서울특별시 강북구 솔매로 38 (미아동)", Type: publicmask.TypePharmacy, Lat: 37.6, Lng: 127.0}
	}
	if _, err := e.Ledger.ImportOutlets(ctx, outlets); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Ledger.IssueTokens(ctx, publicmask.RoleOutlet, codes); err != nil {
		t.Fatal(err)
	}
	node := secondNode(t, e)
	_, atStart := node.TokenListings()
	if atStart < 2000 {
		t.Fatalf("the start listed %d hashes, want every token", atStart)
	}
	for i := range 3 {
		e.Clock.Set(e.Clock.Now().Add(time.Hour))
		tok, err := e.Ledger.IssueToken(ctx, publicmask.RoleOutlet, codes[i])
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !node.KnowsIssued(tok) {
			if time.Now().After(deadline) {
				t.Fatalf("token %d issued on the other node was never listed", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if _, rows := node.TokenListings(); rows-atStart > 3 {
		t.Fatalf("following 3 new tokens listed %d hashes, want 3", rows-atStart)
	}
	// The set stays 8 bytes a token (RSS at rest): no spare capacity.
	if n, c := node.IssuedSet(); n != 2003 || c != n {
		t.Fatalf("issued set: %d keys, capacity %d; want 2,003 of each", n, c)
	}
}

// A token the window misses (a creation time long before the latest
// listed: a late commit, or a node whose clock is behind) is still listed
// at the next check, since the set then counts fewer tokens than the store.
func TestTokenFollowFindsALateToken(t *testing.T) {
	t.Cleanup(ledger.SetTokenFollowEvery(20 * time.Millisecond))
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 10)
	e.Clock.Set(e.Clock.Now().Add(time.Hour))
	if _, err := e.Ledger.IssueToken(ctx, publicmask.RoleOutlet, "10000001"); err != nil {
		t.Fatal(err)
	}
	node := secondNode(t, e)
	e.Clock.Set(e.Clock.Now().Add(-time.Hour)) // the issuing node's clock, an hour behind
	late, err := e.Ledger.IssueToken(ctx, publicmask.RoleOutlet, "10000001")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !node.KnowsIssued(late) {
		if time.Now().After(deadline) {
			t.Fatal("a token created before the window was never listed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// slowLister is a store whose token listings take a while (a PostgreSQL
// table not analyzed yet reads them whole).
type slowLister struct {
	publicmask.Store
	delay time.Duration
}

func (s slowLister) TokenHashes(ctx context.Context, since time.Time, fn func([]byte, time.Time) error) error {
	time.Sleep(s.delay)
	return s.Store.(publicmask.TokenLister).TokenHashes(ctx, since, fn)
}

func (s slowLister) TokenCount(ctx context.Context) (int, error) {
	return s.Store.(publicmask.TokenLister).TokenCount(ctx)
}

// A slow listing spaces the catch-ups more: a flood keeps the store busy
// with them a fifth of the time at most.
func TestTokenCatchUpsSpacedBySlowListings(t *testing.T) {
	t.Cleanup(ledger.SetTokenFollowEvery(time.Hour))
	e := testenv.New(t)
	keyer, _ := rrntest.Keyer(t)
	node, err := ledger.New(ledger.Config{Store: slowLister{e.Store, 20 * time.Millisecond}, Policy: policy.NewHolder(policy.Standard()), Keyer: keyer, Clock: e.Clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close(ctx) })
	refuse := ledger.WithAuthGuard(ctx, func() (func(bool), error) {
		return nil, publicmask.Errorf(publicmask.ERateLimited, "flooded")
	})
	before, _ := node.TokenListings()
	start := time.Now()
	for i := 0; time.Since(start) < time.Second; i++ {
		if _, err := node.Authenticate(refuse, fmt.Sprintf("pm_o_forged%04d", i)); publicmask.ErrorCode(err) != publicmask.ERateLimited {
			t.Fatalf("a made-up token: %v", err)
		}
	}
	after, _ := node.TokenListings()
	// 20 ms each, the next 100 ms after one started: ~10 in a second (50
	// ms apart, as before this spacing: 21).
	if n := after - before; n > 14 {
		t.Fatalf("a second of refused look-ups ran %d listings of 20 ms, want at most 14", n)
	}
	t.Logf("a second of refused look-ups: %d listings of 20 ms", after-before)
}
