// Package rrn parses Korean resident registration numbers (주민등록번호) and
// alien registration numbers (외국인등록번호) and turns them into the only
// identity the rest of the system may keep: a keyed hash (PersonKey).
//
// Privacy (DESIGN.md §2): the raw number must never reach a store or a log.
// ID therefore never prints its full number, whatever the fmt verb, and every
// error message is a constant string, so that no digit of the input can leak
// through an error that is logged or sent back to a client.
//
// The package is pure: no I/O, no clock.
package rrn

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/publicmask/publicmask"
)

// Error messages. They are constants, never formatted with the input, which
// is what guarantees that they cannot leak a buyer's number.
const (
	msgEmpty   = "buyer ID is missing"
	msgChars   = "buyer ID may contain only ASCII digits and one hyphen after the 6th digit"
	msgLength  = "buyer ID must be 13 digits"
	msgHyphen  = "hyphen is allowed only after the 6th digit"
	msgCentury = "century/sex digit must be 1–8"
	msgDate    = "birth date is not a real date"
	msgCheck   = "check digit does not match"
)

func invalid(msg string) error {
	// A fresh value per call: callers may wrap or annotate it, and a shared
	// pointer would let one caller change what another sees.
	return &publicmask.Error{Code: publicmask.EInvalidID, Message: msg}
}

// ID is a parsed, validated resident or alien registration number.
//
// The zero ID is not valid; its methods return zero values and it prints as
// "". ID is comparable, so it can be used as a map key within a request, but
// it must not be stored: store Keyer.Key(id) instead.
type ID struct {
	d [13]byte // normalised ASCII digits, no hyphen
}

// Parse validates s as a resident or alien registration number: 13 ASCII
// digits, optionally with one hyphen after the 6th, surrounded by optional
// ASCII whitespace; century/sex digit 1–8; a real calendar birth date; and,
// when verifyCheckDigit is true, the check digit (a policy switch, because
// numbers issued from October 2020 on no longer carry a check digit).
//
// Every failure is a *publicmask.Error with code invalid_id whose message
// says what is wrong without quoting the input.
func Parse(s string, verifyCheckDigit bool) (ID, error) {
	s = trimASCIISpace(s)
	if s == "" {
		return ID{}, invalid(msgEmpty)
	}
	// Work on bytes: any non-ASCII rune (full-width or Arabic-Indic digits,
	// Unicode spaces) is rejected as an invalid character, never normalised,
	// because a second spelling of the same number would be a second way to
	// present it to the quota check.
	var id ID
	n, hyphens, hyphenAt := 0, 0, -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if n < len(id.d) {
				id.d[n] = c
			}
			n++
		case c == '-':
			hyphens++
			hyphenAt = n // number of digits before the hyphen
		default:
			return ID{}, invalid(msgChars)
		}
	}
	if n != len(id.d) {
		return ID{}, invalid(msgLength)
	}
	if hyphens > 1 || (hyphens == 1 && hyphenAt != 6) {
		return ID{}, invalid(msgHyphen)
	}
	if century(id.d[6]) == 0 {
		return ID{}, invalid(msgCentury)
	}
	y, m, dd := id.date()
	if m < 1 || m > 12 || dd < 1 || dd > daysIn(y, m) {
		return ID{}, invalid(msgDate)
	}
	if verifyCheckDigit && id.d[12]-'0' != checkDigit(id.d[:12], id.Foreign()) {
		return ID{}, invalid(msgCheck)
	}
	return id, nil
}

func trimASCIISpace(s string) string {
	isSpace := func(c byte) bool {
		return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
	}
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// century returns the first year of the century encoded by the 7th digit, or
// 0 if the digit is not accepted. 9 and 0 (born in the 1800s) are rejected:
// nobody alive can hold such a number.
func century(c byte) int {
	switch c {
	case '1', '2', '5', '6':
		return 1900
	case '3', '4', '7', '8':
		return 2000
	}
	return 0
}

func (id ID) date() (year, month, day int) {
	two := func(i int) int { return int(id.d[i]-'0')*10 + int(id.d[i+1]-'0') }
	return century(id.d[6]) + two(0), two(2), two(4)
}

// daysIn returns the number of days of month m (1–12) in year y, with the
// Gregorian leap rule (so 1900 has no 29 February, 2000 has one).
func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

var weights = [12]int{2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5}

// checkDigit computes the 13th digit from the first 12 (ASCII digits).
// Alien registration numbers use 13 instead of 11 as the minuend.
func checkDigit(d []byte, foreign bool) byte {
	sum := 0
	for i, w := range weights {
		sum += int(d[i]-'0') * w
	}
	base := 11
	if foreign {
		base = 13
	}
	return byte((base - sum%11) % 10)
}

// CheckDigit returns the 13th digit that the first 12 ASCII digits of a
// number call for (the 7th digit tells a resident from a foreigner). Test
// helpers and tools build synthetic numbers with it.
func CheckDigit(first12 string) int {
	foreign := first12[6] >= '5' && first12[6] <= '8'
	return int(checkDigit([]byte(first12[:12]), foreign))
}

func (id ID) valid() bool { return id.d[0] != 0 }

// BirthDate returns UTC midnight of the birth date (the zero time for the
// zero ID). UTC rather than Asia/Seoul because it is a calendar date, not an
// instant; callers compare dates, not times.
func (id ID) BirthDate() time.Time {
	if !id.valid() {
		return time.Time{}
	}
	y, m, d := id.date()
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
}

// BirthYear returns the four-digit birth year (0 for the zero ID); the 2020
// rotation rule is keyed on its last digit.
func (id ID) BirthYear() int {
	if !id.valid() {
		return 0
	}
	y, _, _ := id.date()
	return y
}

// Foreign reports whether id is an alien registration number (7th digit 5–8).
func (id ID) Foreign() bool { return id.d[6] >= '5' && id.d[6] <= '8' }

// Male reports whether the century/sex digit is odd.
func (id ID) Male() bool { return id.valid() && (id.d[6]-'0')%2 == 1 }

// String returns the masked form "YYMMDD-S******", safe for logs and for
// showing back to the outlet clerk. It never returns the full number.
func (id ID) String() string {
	if !id.valid() {
		return ""
	}
	var b [14]byte
	copy(b[:6], id.d[:6])
	b[6] = '-'
	b[7] = id.d[6]
	for i := 8; i < len(b); i++ {
		b[i] = '*'
	}
	return string(b[:])
}

// GoString returns the masked form too, so that %#v cannot leak the number.
func (id ID) GoString() string { return id.String() }

// Format implements fmt.Formatter. Without it, verbs that bypass String
// (%d, %x on the struct, %c …) would print the digit bytes of the struct.
func (id ID) Format(f fmt.State, verb rune) {
	_, _ = f.Write([]byte(id.String()))
}

// LogValue implements slog.LogValuer so that structured logs get the masked
// form as a plain string rather than a reflected struct.
func (id ID) LogValue() slog.Value { return slog.StringValue(id.String()) }
