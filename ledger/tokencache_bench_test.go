package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// cachedTokens fills c with n outlet tokens, as bench.sh's rushes leave it
// (~79,000), and returns their sums.
func cachedTokens(c *tokenCache, n int) [][32]byte {
	sums := make([][32]byte, n)
	expires := time.Now().Add(time.Hour)
	for i := range sums {
		sums[i] = sha256.Sum256(fmt.Appendf(nil, "pm_o_%d", i))
		c.remember(publicmask.Token{Hash: hex.EncodeToString(sums[i][:]), Role: publicmask.RoleOutlet,
			Outlet: fmt.Sprintf("%08d", 10000000+i%26_000), CreatedAt: time.Now()}, expires)
	}
	return sums
}

// BenchmarkCachedToken is the look-up every request makes (CachedTokenSum):
// one token, and 80,000 tokens in turn, from one P and from all.
func BenchmarkCachedToken(b *testing.B) {
	b.Run("one", func(b *testing.B) {
		l := &Ledger{}
		sum := cachedTokens(&l.tokens, 1)[0]
		b.ReportAllocs()
		for b.Loop() {
			if t, _, ok, err := l.CachedTokenSum(sum); !ok || err != nil || t.Outlet == "" {
				b.Fatal(t, ok, err)
			}
		}
	})
	b.Run("80k", func(b *testing.B) {
		l := &Ledger{}
		sums := cachedTokens(&l.tokens, 80_000)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i = (i + 7919) % len(sums)
			if t, _, ok, err := l.CachedTokenSum(sums[i]); !ok || err != nil || t.Outlet == "" {
				b.Fatal(t, ok, err)
			}
		}
	})
	b.Run("80k-parallel", func(b *testing.B) {
		l := &Ledger{}
		sums := cachedTokens(&l.tokens, 80_000)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i = (i + 7919) % len(sums)
				if t, _, ok, err := l.CachedTokenSum(sums[i]); !ok || err != nil || t.Outlet == "" {
					b.Fatal(t, ok, err)
				}
			}
		})
	})
}
