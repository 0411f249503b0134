package rrn

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

var (
	allMessages = map[string]bool{msgEmpty: true, msgChars: true, msgLength: true,
		msgHyphen: true, msgCentury: true, msgDate: true, msgCheck: true}
	refShape   = regexp.MustCompile(`^[0-9]{6}-?[0-9]{7}$`)
	digitRun6  = regexp.MustCompile(`[0-9]{6,}`)
	fuzzKeyer  *Keyer
	fuzzSecret = testSecret(9)
)

func init() {
	var err error
	if fuzzKeyer, err = NewKeyer(fuzzSecret); err != nil {
		panic(err)
	}
}

// refValid is a second, deliberately different spelling of the contract
// (regexp + time.Date normalisation) used as an oracle for Parse.
func refValid(s string, verify bool) bool {
	s = strings.Trim(s, " \t\n\r\v\f")
	if !refShape.MatchString(s) {
		return false
	}
	s = strings.Replace(s, "-", "", 1)
	var year int
	switch s[6] {
	case '1', '2', '5', '6':
		year = 1900
	case '3', '4', '7', '8':
		year = 2000
	default:
		return false
	}
	atoi2 := func(i int) int { return int(s[i]-'0')*10 + int(s[i+1]-'0') }
	year += atoi2(0)
	m, d := atoi2(2), atoi2(4)
	t := time.Date(year, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Year() != year || int(t.Month()) != m || t.Day() != d {
		return false
	}
	return !verify || refCheck(s[:12]) == s
}

func FuzzParse(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.id, true)
		f.Add(v.id, false)
	}
	for _, s := range []string{
		"", " ", "-", "------", "000000-0000000", "999999-9999999",
		"0002291000000", "0002293000000", "9912318999999", "000101-1000000",
		" 830315-1992777\t", "830315\u20101992777", "８３０３１５１９９２７７７",
		"830315-1992777-", "8303151992777 8303151992777", "\xff\xfe", "830315\x001992777",
		strings.Repeat("1", 100),
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, verify bool) {
		id, err := Parse(s, verify)
		if ref := refValid(s, verify); ref != (err == nil) {
			t.Fatalf("Parse(%q, %v) err = %v, reference says valid=%v", s, verify, err, ref)
		}
		if err != nil {
			var pe *publicmask.Error
			if !errors.As(err, &pe) || pe.Code != publicmask.EInvalidID {
				t.Fatalf("error %#v is not an invalid_id *publicmask.Error", err)
			}
			if !allMessages[pe.Message] {
				t.Fatalf("unexpected message %q", pe.Message)
			}
			for _, run := range digitRun6.FindAllString(s, -1) {
				for i := 0; i+6 <= len(run); i++ {
					if strings.Contains(err.Error(), run[i:i+6]) {
						t.Fatalf("error %q contains input digits %q", err, run[i:i+6])
					}
				}
			}
			if id != (ID{}) {
				t.Fatalf("failed Parse returned %v", id)
			}
			return
		}

		plain := string(id.d[:])
		if !verify {
			// A success without verification must agree with the reference
			// on the check digit; with it, success implies success without.
			if _, err := Parse(s, true); (err == nil) != (refCheck(plain[:12]) == plain) {
				t.Fatalf("check-digit verdict for %q disagrees with reference: %v", s, err)
			}
		} else if _, err := Parse(s, false); err != nil {
			t.Fatalf("valid with check digit but not without: %v", err)
		}
		key := fuzzKeyer.Key(id)
		for _, form := range []string{plain, plain[:6] + "-" + plain[6:], spacedForm(id)} {
			id2, err := Parse(form, verify)
			if err != nil {
				t.Fatalf("re-parse of %q: %v", form, err)
			}
			if id2 != id || fuzzKeyer.Key(id2) != key || !id2.BirthDate().Equal(id.BirthDate()) {
				t.Fatalf("re-parse of %q differs", form)
			}
		}
		if !hex32.MatchString(string(key)) {
			t.Fatalf("key %q", key)
		}
		bd := id.BirthDate()
		if bd.Format("060102") != plain[:6] || bd.Year() != id.BirthYear() {
			t.Fatalf("birth date %v does not match %s", bd, plain[:6])
		}
		if id.String() != plain[:6]+"-"+plain[6:7]+"******" || id.GoString() != id.String() {
			t.Fatalf("masked form %q", id.String())
		}
		if id.Foreign() != (plain[6] >= '5') || id.Male() != ((plain[6]-'0')%2 == 1) {
			t.Fatalf("Foreign/Male wrong for %s", id)
		}
	})
}

// spacedForm is the hyphenated form with surrounding whitespace, a third spelling.
func spacedForm(id ID) string { return "\t " + string(id.d[:6]) + "-" + string(id.d[6:]) + " \n" }
