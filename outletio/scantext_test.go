package outletio

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestScanTextAsThreePasses: scanText's one pass answers what
// utf8.ValidString, utf8.RuneCountInString and a range over the runes for
// the first control or bidirectional control character answer, on
// random mixes of ASCII, Hangul, controls, bidi marks, U+FFFD and invalid
// bytes.
func TestScanTextAsThreePasses(t *testing.T) {
	parts := []string{"a", " ", "=", "약국", "서울특별시", "\t", "\x00", "\x7f", "\u0085", "\u200e", "\u202b", "\u2067", "\u061c",
		"\uFFFD", "\xff", "\xe5\xb0", "\xc0\xaf", "9", "é", "\U0001F600", "\xed\xa0\x80", "\xed\x9f\xbf", "\xed\xbf\xbf",
		"\xe1\x80\x80", "\xe0\xa0\x80", "\xe0\x80\x80", "\xe2\x80\xae", "\xea\xb0", "\u1fff", "\uffff", "\u3000"}
	rng := rand.New(rand.NewPCG(19, 23))
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(parts[rng.IntN(len(parts))])
		}
		s := b.String()
		want := rune(-1)
		for _, r := range s {
			if unicode.IsControl(r) || r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 || r == 0x200E || r == 0x200F || r == 0x061C {
				want = r
				break
			}
		}
		n, valid, bad := scanText(s)
		if n != utf8.RuneCountInString(s) || valid != utf8.ValidString(s) || bad != want {
			t.Fatalf("%q: %d %v %U, want %d %v %U", s, n, valid, bad, utf8.RuneCountInString(s), utf8.ValidString(s), want)
		}
		if valid != utf8.ValidString(strings.TrimSpace(s)) {
			t.Fatalf("%q: valid %v, trimmed %v", s, valid, utf8.ValidString(strings.TrimSpace(s)))
		}
	}
}
