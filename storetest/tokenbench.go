package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// BenchTokens is the token benchmarks' store: bench.sh's holds ~157,578
// (one an outlet and rush) by its last round.
const BenchTokens = 160_000

// benchT0 is the first bench token's creation time; each next one is a
// millisecond later.
var benchT0 = time.Date(2020, 3, 11, 1, 0, 0, 0, time.UTC)

// TokenStore is a store that lists its tokens (publicmask.TokenLister).
type TokenStore interface {
	publicmask.Store
	publicmask.TokenLister
}

// PutBenchTokens writes BenchTokens tokens, each created a millisecond
// after the last, in transactions of 5,000.
func PutBenchTokens(b *testing.B, st publicmask.Store) {
	b.Helper()
	for lo := 0; lo < BenchTokens; lo += 5000 {
		err := st.Write(context.Background(), func(tx publicmask.Tx) error {
			for i := lo; i < min(lo+5000, BenchTokens); i++ {
				sum := sha256.Sum256(fmt.Appendf(nil, "pm_o_bench%d", i))
				t := publicmask.Token{Hash: hex.EncodeToString(sum[:]), Role: publicmask.RoleOutlet, Outlet: fmt.Sprintf("1%07d", i%30000), CreatedAt: benchT0.Add(time.Duration(i) * time.Millisecond)}
				if err := tx.PutToken(t); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchTokenListing lists every token, as a ledger node does at start.
// s must hold PutBenchTokens's tokens.
func BenchTokenListing(b *testing.B, s TokenStore) {
	benchTokenHashes(b, s, time.Time{}, BenchTokens)
}

// BenchTokenFollow is a following listing that finds the one token
// created after the latest listed.
func BenchTokenFollow(b *testing.B, s TokenStore) {
	benchTokenHashes(b, s, benchT0.Add((BenchTokens-1)*time.Millisecond), 1)
}

func benchTokenHashes(b *testing.B, s TokenStore, since time.Time, want int) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := s.TokenHashes(ctx, since, func([]byte, time.Time) error { n++; return nil }); err != nil || n != want {
			b.Fatalf("listed %d, want %d: %v", n, want, err)
		}
	}
}

// BenchTokenCount is the count a ledger node runs every 2 s.
func BenchTokenCount(b *testing.B, s TokenStore) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if n, err := s.TokenCount(ctx); err != nil || n != BenchTokens {
			b.Fatal(n, err)
		}
	}
}
