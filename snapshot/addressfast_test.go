package snapshot

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/publicmask/publicmask/seed"
)

// hangulWordTables is hangulWord as it was written before its one-pass
// form: the rune count, the first rune and every rune against the
// Unicode tables.
func hangulWordTables(t string) bool {
	if utf8.RuneCountInString(t) < 2 {
		return false
	}
	first, _ := utf8.DecodeRuneInString(t)
	if !unicode.Is(unicode.Hangul, first) {
		return false
	}
	for _, r := range t {
		if !unicode.Is(unicode.Hangul, r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// addressPieces are what the random tokens are made of: syllables at and
// around the block's ends, Jamo and compatibility Jamo (Hangul outside the
// block), ASCII and other digits, spaces of every kind, punctuation, and
// invalid bytes.
var addressPieces = []string{
	"가", "힣", "동", "로", "길", "시", "구", "군", "리", "읍", "면",
	"\u1100", "\u3131", "\uffa0", "\ud7a4", "\uabff", "\ud7b0",
	"0", "5", "9", "٣", "５", "a", "Z", "-", "(", ")", ",", ".",
	" ", "\t", "\n", "\v", "\f", "\r", "\u0085", "\u00a0", "\u3000", "\u2028",
	"\xff", "\xed", "\xea\xb0", "\x80", "\ufffd", "\xed\xa0\x80", "\xed\xbf\xbf", "\xed\x9f\xbf", "\xec\xbf",
}

func randomAddressText(rng *rand.Rand) string {
	var b strings.Builder
	for range rng.IntN(12) {
		b.WriteString(addressPieces[rng.IntN(len(addressPieces))])
	}
	return b.String()
}

func TestHangulWordAsTables(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 24))
	for range 50_000 {
		s := randomAddressText(rng)
		if got, want := hangulWord(s), hangulWordTables(s); got != want {
			t.Fatalf("hangulWord(%q) = %v, the tables say %v", s, got, want)
		}
	}
	for _, o := range seed.Outlets(seed.Options{Seed: 2020, Count: 5000}) {
		for _, tok := range strings.Fields(o.Addr) {
			if got, want := hangulWord(tok), hangulWordTables(tok); got != want {
				t.Fatalf("hangulWord(%q) = %v, the tables say %v", tok, got, want)
			}
		}
	}
}

func TestAppendFieldsAsStringsFields(t *testing.T) {
	rng := rand.New(rand.NewPCG(24, 19))
	var buf [4]string // small: the appends past it are checked too
	for range 50_000 {
		s := randomAddressText(rng)
		want := strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == ',' })
		if got := appendFields(buf[:0], s); !slices.Equal(got, want) {
			t.Fatalf("appendFields(%q) = %q, strings.FieldsFunc (spaces and commas) %q", s, got, want)
		}
	}
}

// appendFields decodes only runes whose first byte is 0xc2 or 0xe1–0xe3:
// every space outside ASCII must start with one of them.
func TestNonASCIISpacesFirstBytes(t *testing.T) {
	for r := rune(utf8.RuneSelf); r <= unicode.MaxRune; r++ {
		if !unicode.IsSpace(r) {
			continue
		}
		if c := string(r)[0]; c != 0xc2 && (c < 0xe1 || c > 0xe3) {
			t.Errorf("U+%04X is a space starting with %#x: appendFields would not see it", r, c)
		}
	}
}
