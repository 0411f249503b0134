package sqlite

import (
	"context"
	"testing"
	"time"
)

func listEvery(ctx context.Context, s *Store, n *int) error {
	return s.TokenHashes(ctx, time.Time{}, func([]byte, time.Time) error { *n++; return nil })
}

// BenchmarkTokenFollow is a following listing that finds the one token
// created after the latest listed.
func BenchmarkTokenFollow(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	since := benchT0.Add((benchTokens - 1) * time.Millisecond)
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := s.TokenHashes(ctx, since, func([]byte, time.Time) error { n++; return nil }); err != nil || n != 1 {
			b.Fatal(n, err)
		}
	}
}
