package publicmask

// JSONPlain reports that encoding/json encodes s as itself between quotes:
// printable ASCII without '"', '\\' and the characters it escapes for HTML
// ('<', '>', '&'). Bodies appended by hand (a receipt, an error body) take
// their strings as they are only when they are plain.
func JSONPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
