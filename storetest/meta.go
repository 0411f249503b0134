package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

func testTokens(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	write(t, s, func(tx publicmask.Tx) error {
		return tx.PutToken(publicmask.Token{Hash: "h-outlet", Role: publicmask.RoleOutlet, Outlet: "00000001", CreatedAt: t0})
	})
	tok, err := s.Token(ctx, "h-outlet")
	if err != nil || tok.Role != publicmask.RoleOutlet || tok.Outlet != "00000001" || !tok.RevokedAt.IsZero() {
		t.Fatalf("Token = %+v, %v", tok, err)
	}
	write(t, s, func(tx publicmask.Tx) error { return tx.RevokeToken("h-outlet", t0.Add(time.Hour)) })
	tok, _ = s.Token(ctx, "h-outlet")
	if !tok.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("revocation not stored: %+v", tok)
	}
	if _, err := s.Token(ctx, "nope"); publicmask.ErrorCode(err) != publicmask.ENotFound {
		t.Fatalf("missing token: %v", err)
	}
}

func testMeta(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	if v, err := s.Meta(ctx, "k"); err != nil || v != "" {
		t.Fatalf("unset meta = %q, %v", v, err)
	}
	for _, v := range []string{"one", "two"} {
		if err := s.SetMeta(ctx, "k", v); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Meta(ctx, "k"); got != v {
			t.Fatalf("meta = %q, want %q", got, v)
		}
	}
	// InitMeta: the first value wins, and everyone is told the value in force.
	if v, err := s.InitMeta(ctx, "fp", "first"); err != nil || v != "first" {
		t.Fatalf("InitMeta on unset = %q, %v", v, err)
	}
	if v, err := s.InitMeta(ctx, "fp", "second"); err != nil || v != "first" {
		t.Fatalf("InitMeta on set = %q, %v; want the first value kept", v, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
