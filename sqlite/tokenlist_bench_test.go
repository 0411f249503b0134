package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// benchTokens is the bench's store of tokens: bench.sh's holds ~157,578
// (one a outlet and rush) by its last round.
const benchTokens = 160_000

var benchT0 = time.Date(2020, 3, 11, 1, 0, 0, 0, time.UTC)

// putBenchTokens writes n tokens, each created a millisecond after the last.
func putBenchTokens(b *testing.B, st publicmask.Store, n int) {
	b.Helper()
	for lo := 0; lo < n; lo += 5000 {
		err := st.Write(context.Background(), func(tx publicmask.Tx) error {
			for i := lo; i < min(lo+5000, n); i++ {
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

func openBench(b *testing.B) *Store {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "pm.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	putBenchTokens(b, s, benchTokens)
	return s
}

// BenchmarkTokenListing lists every token, as a ledger node does at start
// (publicmask.TokenLister).
func BenchmarkTokenListing(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := listEvery(ctx, s, &n); err != nil {
			b.Fatal(err)
		}
		if n != benchTokens {
			b.Fatalf("listed %d", n)
		}
	}
}

// BenchmarkTokenCount is the count a ledger node runs every 2 s.
func BenchmarkTokenCount(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if n, err := s.TokenCount(ctx); err != nil || n != benchTokens {
			b.Fatal(n, err)
		}
	}
}
