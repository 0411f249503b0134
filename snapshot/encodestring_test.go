package snapshot

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// AppendString writes what encoding/json writes for a string, for text
// around its three-byte fast path: Hangul at the block's ends, the
// surrogates' encodings (0xed 0xa0–0xbf: invalid), U+2028/2029 (0xe2),
// overlong and truncated sequences, and escapes.
func TestAppendStringAsJSON(t *testing.T) {
	pieces := []string{
		"가", "힣", "\u1100", "\u3000", "\ud7ff", "\ue000", "\uffff", "\u0800", "\u2028", "\u2029", "\u2027", "\u202a",
		"\xed\xa0\x80", "\xed\xbf\xbf", "\xed\x9f\xbf", "\xe0\x80\x80", "\xe0\xa0\x80", "\xea\xb0", "\xea", "\xe1\x80",
		"\xff", "\x80", "\xc2\xa0", "\U0001F600", "a", "<", ">", "&", `"`, `\`, "\n", "\t", "\x00", "\x1f", " ",
	}
	rng := rand.New(rand.NewPCG(2020, 3))
	for range 50_000 {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := b.String()
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("AppendString(%q) = %s, encoding/json %s", s, got, want)
		}
	}
}
