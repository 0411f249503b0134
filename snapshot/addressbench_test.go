package snapshot

import (
	"testing"

	"github.com/publicmask/publicmask/seed"
)

// BenchmarkParseAddress parses the addresses of 20,000 generated outlets.
func BenchmarkParseAddress(b *testing.B) {
	outlets := seed.Outlets(seed.Options{Seed: 2020, Count: 20_000})
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for i := range outlets {
			ParseAddress(outlets[i].Addr)
		}
	}
}
