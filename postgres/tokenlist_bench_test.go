package postgres

import (
	"context"
	"testing"

	"github.com/publicmask/publicmask/storetest"
)

// The token listing's benchmarks (storetest), on a store of 160,000 tokens.

func openBench(b *testing.B) *Store {
	s := openTest(b, Options{})
	storetest.PutBenchTokens(b, s)
	// As autovacuum would within a minute: a table never analyzed is
	// read whole for a range of created_at.
	if _, err := s.pool.Exec(context.Background(), "ANALYZE tokens"); err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkTokenListing(b *testing.B) { storetest.BenchTokenListing(b, openBench(b)) }
func BenchmarkTokenFollow(b *testing.B)  { storetest.BenchTokenFollow(b, openBench(b)) }
func BenchmarkTokenCount(b *testing.B)   { storetest.BenchTokenCount(b, openBench(b)) }
