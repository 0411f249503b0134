package ledger

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/publicmask/publicmask"
)

// byCodeThroughOutlets is ImportOutlets' order before codeOrder: the
// positions sorted by the outlets' codes, then by position.
func byCodeThroughOutlets(outlets []publicmask.Outlet) []int32 {
	order := make([]int32, len(outlets))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		return cmp.Or(cmp.Compare(outlets[a].Code, outlets[b].Code), cmp.Compare(a, b))
	})
	return order
}

func randomCodes(r *rand.Rand, n, maxLen int, alphabet string) []publicmask.Outlet {
	outlets := make([]publicmask.Outlet, n)
	for i := range outlets {
		b := make([]byte, 1+r.IntN(maxLen))
		for j := range b {
			b[j] = alphabet[r.IntN(len(alphabet))]
		}
		outlets[i].Code = string(b)
	}
	return outlets
}

func TestCodeOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 5))
	cases := map[string][]publicmask.Outlet{
		"empty": nil,
		"one":   {{Code: "A1"}},
		// Short codes from a small alphabet: many prefixes and repeats.
		"prefixes": randomCodes(r, 5000, 4, "0a1"),
		// Zero bytes (no caller sends them, the parsers refuse them):
		// packed, "a" and "a\x00" would tie; they take the comparison.
		"zero bytes":  randomCodes(r, 3000, 8, "\x00a\xff"),
		"high bytes":  randomCodes(r, 3000, 8, "a\x80\xff"),
		"same length": randomCodes(r, 3000, 1, "0123456789"),
		"8 digits":    randomCodes(r, 20000, 8, "0123456789"),
		"mixed":       randomCodes(r, 20000, 8, "09AZaz"),
		"10 digits":   randomCodes(r, 20000, 10, "0123456789"),
		"16 bytes":    randomCodes(r, 20000, 16, "09AZaz"),
		// A code longer than 16 bytes: the comparison of the codes.
		"long": append(randomCodes(r, 2000, 16, "0123456789"), publicmask.Outlet{Code: "12345678901234567"}),
	}
	for name, outlets := range cases {
		if got, want := codeOrder(outlets), byCodeThroughOutlets(outlets); !slices.Equal(got, want) {
			t.Errorf("%s: codeOrder differs from the order of the codes", name)
		}
	}
}

func BenchmarkCodeOrder(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	outlets := make([]publicmask.Outlet, 100_000)
	for i := range outlets {
		outlets[i].Code = fmt.Sprintf("%08d", r.IntN(100_000_000))
	}
	b.Run("packed", func(b *testing.B) {
		for range b.N {
			codeOrder(outlets)
		}
	})
	b.Run("outlets", func(b *testing.B) {
		for range b.N {
			byCodeThroughOutlets(outlets)
		}
	})
}
