// Package utf8x holds the UTF-8 fast path shared by the text scanners of
// the import path (outletio) and the JSON encoder (snapshot).
package utf8x

// PlainThreeByte reports whether s[i:] starts with a valid three-byte rune
// in U+1000–U+1FFF or U+3000–U+D7FF (Hangul among them): none is a control,
// a bidirectional mark or U+2028/2029 (those start with 0xe2, or are not
// three bytes), so a scanner may step over its three bytes without the
// decoder's call. Overlong forms (0xe0), surrogates (0xed 0xa0–0xbf) and
// U+E000–U+FFFF (0xee, 0xef) are left to the decoder.
func PlainThreeByte(s string, i int) bool {
	c := s[i]
	return c >= 0xe1 && c <= 0xed && c != 0xe2 && i+2 < len(s) && s[i+1]&0xc0 == 0x80 && s[i+2]&0xc0 == 0x80 &&
		(c != 0xed || s[i+1] < 0xa0)
}
