package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/publicmask/publicmask/storetest"
)

// The token listing's benchmarks (storetest), on a store of 160,000 tokens.

func openBench(b *testing.B) *Store {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "pm.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	storetest.PutBenchTokens(b, s)
	return s
}

func BenchmarkTokenListing(b *testing.B) { storetest.BenchTokenListing(b, openBench(b)) }
func BenchmarkTokenFollow(b *testing.B)  { storetest.BenchTokenFollow(b, openBench(b)) }
func BenchmarkTokenCount(b *testing.B)   { storetest.BenchTokenCount(b, openBench(b)) }
