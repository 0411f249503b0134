package rrntest

import (
	"testing"

	"github.com/publicmask/publicmask/rrn"
)

func TestIDParsesWithCheckDigit(t *testing.T) {
	for _, c := range []struct {
		birth string
		sex   byte
		year  int
	}{
		{"830315", '1', 1983}, {"840315", '2', 1984}, {"120315", '3', 2012},
		{"380315", '2', 1938}, {"900101", '5', 1990}, {"050505", '8', 2005},
	} {
		for serial := range 30 {
			s := ID(c.birth, c.sex, serial)
			id, err := rrn.Parse(s, true)
			if err != nil {
				t.Fatalf("ID(%s, %c, %d) = %s: %v", c.birth, c.sex, serial, s, err)
			}
			if id.BirthYear() != c.year {
				t.Errorf("%s: birth year %d, want %d", s, id.BirthYear(), c.year)
			}
			if !HasCheckDigit(s) {
				t.Errorf("HasCheckDigit(%s) = false", s)
			}
			wrong := s[:12] + string(rune('0'+(s[12]-'0'+1)%10))
			if HasCheckDigit(wrong) {
				t.Errorf("HasCheckDigit(%s) = true for a wrong check digit", wrong)
			}
			if _, err := rrn.Parse(wrong, true); err == nil {
				t.Errorf("rrn.Parse accepted the wrong check digit %s", wrong)
			}
		}
	}
}
