package ledger_test

import (
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/rrn/rrntest"
)

// A node knows every issued token without having served it (DESIGN.md
// §6.5): a guard that refuses every look-up (a neighbour's flood used up
// the address's budget) refuses made-up tokens but never a valid one — one
// issued before the node started (a restart), nor one issued later on
// another node (a second ledger on the same store), once the count was
// checked. Before the fix the node read the store for both behind the guard.
func TestIssuedTokensSpareTheGuard(t *testing.T) {
	defer ledger.SetTokenFollowEvery(20 * time.Millisecond)()
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 10)
	e.AddOutlet(t, "10000002", publicmask.TypePharmacy, 10)
	before, err := e.Ledger.IssueToken(ctx, publicmask.RoleOutlet, "10000001")
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := e.Ledger.IssueToken(ctx, publicmask.RoleOutlet, "10000002")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Ledger.RevokeToken(ctx, revoked); err != nil {
		t.Fatal(err)
	}
	keyer, _ := rrntest.Keyer(t)
	node, err := ledger.New(ledger.Config{Store: e.Store, Policy: policy.NewHolder(policy.Standard()), Keyer: keyer, Clock: e.Clock})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close(ctx)
	// Known, not cached: an entry of each of ~160,000 tokens cost the
	// bench's server +31 MB at rest; the set costs 8 bytes a token.
	if !node.KnowsIssued(before) || !node.KnowsIssued(revoked) || node.KnowsIssued("pm_o_madeup") {
		t.Fatal("the issued set does not hold exactly the store's tokens")
	}
	if _, _, ok, _ := node.CachedToken(before); ok {
		t.Fatal("loading the tokens filled the token cache")
	}
	guarded := 0
	refuse := ledger.WithAuthGuard(ctx, func() (func(bool), error) {
		guarded++
		return nil, publicmask.Errorf(publicmask.ERateLimited, "flooded")
	})
	if tok, err := node.Authenticate(refuse, before); err != nil || tok.Outlet != "10000001" {
		t.Fatalf("a token issued before the node started: %+v %v", tok, err)
	}
	if _, err := node.Authenticate(refuse, revoked); publicmask.ErrorCode(err) != publicmask.EUnauthorized {
		t.Fatalf("a revoked token: %v, want unauthorized", err)
	}
	if guarded != 0 {
		t.Fatalf("issued tokens cost %d guard calls, want 0", guarded)
	}
	if _, err := node.Authenticate(refuse, "pm_o_madeup"); publicmask.ErrorCode(err) != publicmask.ERateLimited {
		t.Fatalf("a made-up token behind the refusing guard: %v", err)
	}

	// Issued on the other node: this one learns of it from the count.
	later, err := e.Ledger.IssueToken(ctx, publicmask.RoleOutlet, "10000002")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if node.KnowsIssued(later) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a token issued on another node was never loaded")
		}
		time.Sleep(5 * time.Millisecond)
	}
	guarded = 0
	if tok, err := node.Authenticate(refuse, later); err != nil || tok.Outlet != "10000002" || guarded != 0 {
		t.Fatalf("a token issued on another node: %+v %v (guard consulted %d times)", tok, err, guarded)
	}
}
