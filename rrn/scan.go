package rrn

// Client-supplied strings that are logged or stored (request IDs, txn_id,
// paths, imported names) must not carry a registration number. Only a run
// that parses as one (DESIGN.md §6.4: a real date and the check digit) counts,
// so that other long numbers — millisecond timestamps in a txn_id — stay
// valid. A run is exactly 13 digits, or 6 digits, a hyphen and 7 digits,
// with no digit on either side.

// Contains reports whether s holds a registration number.
func Contains(s string) bool {
	found := false
	scan(s, func(int, int) bool { found = true; return false })
	return found
}

// Mask replaces every registration number in s by asterisks of its length.
func Mask(s string) string {
	var b []byte
	scan(s, func(i, j int) bool {
		if b == nil {
			b = []byte(s)
		}
		for k := i; k < j; k++ {
			if b[k] != '-' {
				b[k] = '*'
			}
		}
		return true
	})
	if b == nil {
		return s
	}
	return string(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// scan calls f with the bounds of each registration number in s until f
// returns false.
func scan(s string, f func(i, j int) bool) {
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		end := -1
		switch {
		case j-i == 13:
			end = j
		case j-i == 6 && j+1 < len(s) && s[j] == '-':
			k := j + 1
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			if k-j-1 == 7 {
				end = k
			}
		}
		if end > 0 {
			if _, err := Parse(s[i:end], true); err == nil {
				if !f(i, end) {
					return
				}
				i = end
				continue
			}
		}
		i = j
	}
}
