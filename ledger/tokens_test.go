package ledger_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/rrn/rrntest"
)

// Made-up tokens cost little: repeated ones are answered from the negative
// cache, a flood of fresh ones never evicts a valid token, and the guard is
// consulted only for tokens never seen valid.
func TestMadeUpTokens(t *testing.T) {
	defer ledger.SetMaxUnknownTokens(100)()
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 10)
	valid, err := e.Ledger.IssueToken(ctx, publicmask.RoleOutlet, "10000001")
	if err != nil {
		t.Fatal(err)
	}
	guarded := 0
	var failed, found int
	gctx := ledger.WithAuthGuard(ctx, func() (func(bool), error) {
		guarded++
		return func(ok bool) {
			if ok {
				found++
			} else {
				failed++
			}
		}, nil
	})
	// Issued by this node: known without a store read or the guard.
	if tok, err := e.Ledger.Authenticate(gctx, valid); err != nil || tok.Outlet != "10000001" {
		t.Fatalf("valid token: %v %v", tok, err)
	}
	reads := e.Ledger.TokenStoreReads()
	if reads != 0 || guarded != 0 {
		t.Fatalf("a token issued here cost %d store reads, %d guard calls", reads, guarded)
	}

	// The same made-up token twice: one store read.
	for range 2 {
		if _, err := e.Ledger.Authenticate(gctx, "pm_o_madeup"); code(err) != publicmask.EUnauthorized {
			t.Fatalf("made-up token: %v", err)
		}
	}
	if got := e.Ledger.TokenStoreReads() - reads; got != 1 {
		t.Fatalf("%d store reads for one made-up token asked twice", got)
	}
	// A flood of fresh made-up tokens, ten times the negative cache.
	for i := range 1000 {
		e.Ledger.Authenticate(gctx, fmt.Sprintf("pm_o_flood%d", i))
	}
	reads = e.Ledger.TokenStoreReads()
	if tok, err := e.Ledger.Authenticate(gctx, valid); err != nil || tok.Outlet != "10000001" {
		t.Fatalf("valid token after the flood: %v %v", tok, err)
	}
	if got := e.Ledger.TokenStoreReads() - reads; got != 0 {
		t.Fatalf("the flood evicted the valid token (%d store reads)", got)
	}
	if failed != 1001 || found != 0 || guarded != 1001 {
		t.Fatalf("guard: consulted %d, failed %d, found %d; want 1001, 1001, 0", guarded, failed, found)
	}
	// A guard that refuses stops the store read.
	reads = e.Ledger.TokenStoreReads()
	refuse := ledger.WithAuthGuard(ctx, func() (func(bool), error) {
		return nil, publicmask.Errorf(publicmask.ERateLimited, "no")
	})
	if _, err := e.Ledger.Authenticate(refuse, "pm_o_another"); code(err) != publicmask.ERateLimited {
		t.Fatalf("refused look-up: %v", err)
	}
	if e.Ledger.TokenStoreReads() != reads {
		t.Fatal("the store was read although the guard refused")
	}
	// ... but never for a cached valid token.
	if _, err := e.Ledger.Authenticate(refuse, valid); err != nil {
		t.Fatalf("a valid token refused by the guard: %v", err)
	}
}

// CachedToken answers what the caches hold, without a store read, and
// leaves the rest to Authenticate: a token issued or read here, a made-up
// one already refused, not a revoked one nor one never seen.
func TestCachedToken(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 10)
	valid, err := e.Ledger.IssueToken(ctx, publicmask.RoleOutlet, "10000001")
	if err != nil {
		t.Fatal(err)
	}
	if tok, _, ok, err := e.Ledger.CachedToken(valid); !ok || err != nil || tok.Outlet != "10000001" || tok.Role != publicmask.RoleOutlet {
		t.Fatalf("issued token: %+v %v %v", tok, ok, err)
	}
	if _, _, ok, err := e.Ledger.CachedToken(""); !ok || publicmask.ErrorCode(err) != publicmask.EUnauthorized {
		t.Fatalf("no token: %v %v", ok, err)
	}
	const madeUp = "made-up-token"
	if _, _, ok, err := e.Ledger.CachedToken(madeUp); ok || err != nil {
		t.Fatalf("a token never seen: %v %v, want it left to Authenticate", ok, err)
	}
	if _, err := e.Ledger.Authenticate(ctx, madeUp); publicmask.ErrorCode(err) != publicmask.EUnauthorized {
		t.Fatalf("made-up token: %v", err)
	}
	if _, _, ok, err := e.Ledger.CachedToken(madeUp); !ok || publicmask.ErrorCode(err) != publicmask.EUnauthorized {
		t.Fatalf("a made-up token refused before: %v %v", ok, err)
	}
	reads := e.Ledger.TokenStoreReads()
	if err := e.Ledger.RevokeToken(ctx, valid); err != nil {
		t.Fatal(err)
	}
	// Revoked here, it is cached as revoked (not forgotten, which would
	// let a read begun before the revocation cache it valid again).
	if _, _, ok, err := e.Ledger.CachedToken(valid); !ok || publicmask.ErrorCode(err) != publicmask.EUnauthorized {
		t.Fatalf("a token revoked here, from the cache: %v %v", ok, err)
	}
	if _, err := e.Ledger.Authenticate(ctx, valid); publicmask.ErrorCode(err) != publicmask.EUnauthorized {
		t.Fatalf("revoked token: %v", err)
	}
	if n := e.Ledger.TokenStoreReads() - reads; n != 0 {
		t.Errorf("%d store reads for the token revoked here, want 0", n)
	}
}

// IssueOutletTokens on a store without one read for many codes (SQLite):
// each code checked, the unknown ones listed in their order, one token for
// each known outlet.
func TestIssueOutletTokens(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 10)
	e.AddOutlet(t, "10000002", publicmask.TypePharmacy, 10)
	tokens, missing, err := e.Ledger.IssueOutletTokens(ctx, []string{"99999999", "10000002", "88888888", "10000001"})
	if err != nil || len(tokens) != 2 || fmt.Sprint(missing) != "[99999999 88888888]" {
		t.Fatalf("IssueOutletTokens: %v %v %v", tokens, missing, err)
	}
	for _, c := range []string{"10000001", "10000002"} {
		if tok, err := e.Ledger.Authenticate(ctx, tokens[c]); err != nil || tok.Outlet != c {
			t.Errorf("%s: %+v %v", c, tok, err)
		}
	}
	if tokens, missing, err := e.Ledger.IssueOutletTokens(ctx, []string{"77777777"}); err != nil || len(tokens) != 0 || len(missing) != 1 {
		t.Errorf("only unknown outlets: %v %v %v", tokens, missing, err)
	}
}

// tokenPuts counts the tokens a store is given.
type tokenPuts struct {
	publicmask.Store
	puts atomic.Int64
}

func (s *tokenPuts) Write(ctx context.Context, fn func(publicmask.Tx) error) error {
	return s.Store.Write(ctx, func(tx publicmask.Tx) error { return fn(countedTx{tx, &s.puts}) })
}

type countedTx struct {
	publicmask.Tx
	puts *atomic.Int64
}

func (t countedTx) PutToken(tok publicmask.Token) error {
	t.puts.Add(1)
	return t.Tx.PutToken(tok)
}

// An outlet listed twice gets one token: a second one would be valid, stored
// and never handed to anyone (the answer is a map by code).
func TestIssueOutletTokensRepeatedCode(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 10)
	st := &tokenPuts{Store: e.Store}
	keyer, _ := rrntest.Keyer(t)
	l, err := ledger.New(ledger.Config{Store: st, Policy: policy.NewHolder(policy.Standard()), Keyer: keyer, Clock: e.Clock})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	tokens, missing, err := l.IssueOutletTokens(ctx, []string{"10000001", "99999999", "10000001"})
	if err != nil || len(tokens) != 1 || fmt.Sprint(missing) != "[99999999]" {
		t.Fatalf("IssueOutletTokens: %v %v %v", tokens, missing, err)
	}
	if n := st.puts.Load(); n != 1 {
		t.Errorf("%d tokens stored for one outlet listed twice, want 1", n)
	}
}
