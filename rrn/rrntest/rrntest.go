// Package rrntest builds synthetic resident registration numbers for tests:
// one place for the check-digit arithmetic (it is rrn's own).
package rrntest

import (
	"fmt"
	"testing"

	"github.com/publicmask/publicmask/rrn"
)

// ID returns a valid 13-digit registration number for a birth date
// "YYMMDD", a century/sex digit ('1'–'8') and a serial (0–99999).
func ID(birth string, sexDigit byte, serial int) string {
	s := fmt.Sprintf("%s%c%05d", birth, sexDigit, serial%100000)
	return s + string(rune('0'+rrn.CheckDigit(s)))
}

// HasCheckDigit reports whether the 13 ASCII digits of s end with the check
// digit their first 12 call for.
func HasCheckDigit(s string) bool {
	return len(s) == 13 && int(s[12]-'0') == rrn.CheckDigit(s)
}

// Keyer is a keyer under a fresh random secret, and that secret.
func Keyer(tb testing.TB) (*rrn.Keyer, []byte) {
	tb.Helper()
	secret, err := rrn.NewSecret()
	if err != nil {
		tb.Fatal(err)
	}
	k, err := rrn.NewKeyer(secret)
	if err != nil {
		tb.Fatal(err)
	}
	return k, secret
}
