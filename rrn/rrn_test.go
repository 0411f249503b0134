package rrn

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/publicmask/publicmask"

	"github.com/publicmask/publicmask/internal/testdata"
)

type vector struct {
	id, reason, birth string
	valid, foreign    bool
}

// loadVectors reads testdata/rrn-vectors.csv (copied from the shared data)
// by header name, so a reordering of columns cannot silently shift fields.
func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	rows := testdata.CSV(tb, "testdata/rrn-vectors.csv")
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, h := range []string{"id", "valid", "reason", "birth_date", "foreign"} {
		if _, ok := col[h]; !ok {
			tb.Fatalf("vector file lacks column %q", h)
		}
	}
	var vs []vector
	var err error
	for _, r := range rows[1:] {
		v := vector{id: r[col["id"]], reason: r[col["reason"]], birth: r[col["birth_date"]]}
		if v.valid, err = strconv.ParseBool(r[col["valid"]]); err != nil {
			tb.Fatalf("row %q: valid: %v", r, err)
		}
		if v.valid {
			if v.foreign, err = strconv.ParseBool(r[col["foreign"]]); err != nil {
				tb.Fatalf("row %q: foreign: %v", r, err)
			}
		}
		vs = append(vs, v)
	}
	if len(vs) < 30 {
		tb.Fatalf("only %d vectors read", len(vs))
	}
	return vs
}

// reasonMessage maps the free-text reason of an invalid vector to the message
// Parse must give, so the test checks not just "rejected" but "rejected for
// the right reason" (a date error hidden by a check-digit error would pass a
// weaker test).
func reasonMessage(reason string) string {
	switch {
	case strings.Contains(reason, "check digit"):
		return msgCheck
	case strings.Contains(reason, "century"):
		return msgCentury
	case strings.Contains(reason, "date"), strings.Contains(reason, "month"), strings.Contains(reason, "Feb 29"):
		return msgDate
	case reason == "empty":
		return msgEmpty
	case strings.HasSuffix(reason, " digits"):
		return msgLength
	case strings.Contains(reason, "not a digit"), strings.Contains(reason, "space"):
		return msgChars
	case strings.Contains(reason, "hyphen"):
		return msgHyphen
	}
	return ""
}

func errMessage(t *testing.T, err error) string {
	t.Helper()
	var pe *publicmask.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *publicmask.Error", err, err)
	}
	if pe.Code != publicmask.EInvalidID {
		t.Fatalf("code = %q, want %q", pe.Code, publicmask.EInvalidID)
	}
	return pe.Message
}

func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.id+"/"+v.reason, func(t *testing.T) {
			id, err := Parse(v.id, true)
			if !v.valid {
				if err == nil {
					t.Fatalf("Parse accepted an invalid ID (%s)", v.reason)
				}
				msg := errMessage(t, err)
				if want := reasonMessage(v.reason); want == "" {
					t.Logf("no expected message known for reason %q; got %q", v.reason, msg)
				} else if msg != want {
					t.Errorf("message = %q, want %q", msg, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := id.BirthDate().Format("2006-01-02"); got != v.birth {
				t.Errorf("BirthDate = %s, want %s", got, v.birth)
			}
			if got := id.Foreign(); got != v.foreign {
				t.Errorf("Foreign = %v, want %v", got, v.foreign)
			}
			if got, want := id.BirthYear(), id.BirthDate().Year(); got != want {
				t.Errorf("BirthYear = %d, BirthDate year %d", got, want)
			}
		})
	}
}

// refCheck is an independent spelling of the check-digit rule, used to build
// table cases; TestRefCheckAgreesWithVectors ties it to the shared vectors.
func refCheck(first12 string) string {
	w := "234567892345"
	sum := 0
	for i := range 12 {
		sum += int(first12[i]-'0') * int(w[i]-'0')
	}
	minuend := 11
	if strings.ContainsRune("5678", rune(first12[6])) {
		minuend = 13
	}
	return first12 + strconv.Itoa((minuend-sum%11)%10)
}

// wrongCheck returns first12 with a check digit that does not match.
func wrongCheck(first12 string) string {
	ok := refCheck(first12)
	return first12 + strconv.Itoa((int(ok[12]-'0')+1)%10)
}

func TestRefCheckAgreesWithVectors(t *testing.T) {
	n := 0
	for _, v := range loadVectors(t) {
		plain := strings.Replace(v.id, "-", "", 1)
		if v.valid {
			n++
			if got := refCheck(plain[:12]); got != plain {
				t.Errorf("refCheck(%s) = %s, want %s", plain[:12], got, plain)
			}
		}
	}
	if n == 0 {
		t.Fatal("no valid vectors")
	}
}

func TestParse(t *testing.T) {
	type want struct {
		msg     string // "" = valid
		birth   string
		male    bool
		foreign bool
	}
	ok := func(birth string, male, foreign bool) want { return want{birth: birth, male: male, foreign: foreign} }
	bad := func(msg string) want { return want{msg: msg} }
	hy := func(s string) string { return s[:6] + "-" + s[6:] }

	cases := []struct {
		name   string
		in     string
		verify bool
		want   want
	}{
		// centuries and sexes, citizens and foreigners
		{"1900s male", refCheck("830315112345"), true, ok("1983-03-15", true, false)},
		{"1900s female", refCheck("830315212345"), true, ok("1983-03-15", false, false)},
		{"2000s male", refCheck("120505312345"), true, ok("2012-05-05", true, false)},
		{"2000s female", refCheck("120505412345"), true, ok("2012-05-05", false, false)},
		{"foreign 1900s male", refCheck("900707512345"), true, ok("1990-07-07", true, true)},
		{"foreign 1900s female", refCheck("900707612345"), true, ok("1990-07-07", false, true)},
		{"foreign 2000s male", refCheck("051010712345"), true, ok("2005-10-10", true, true)},
		{"foreign 2000s female", refCheck("051010812345"), true, ok("2005-10-10", false, true)},
		{"00 in 1900s", refCheck("000101112345"), true, ok("1900-01-01", true, false)},
		{"99 in 2000s", refCheck("991231412345"), true, ok("2099-12-31", false, false)},
		{"century 9", refCheck("830315912345"), false, bad(msgCentury)},
		{"century 0", refCheck("830315012345"), false, bad(msgCentury)},

		// calendar
		{"Feb 29 2000", refCheck("000229312345"), true, ok("2000-02-29", true, false)},
		{"Feb 29 2004", refCheck("040229412345"), true, ok("2004-02-29", false, false)},
		{"Feb 29 1996", refCheck("960229212345"), true, ok("1996-02-29", false, false)},
		{"Feb 29 1900 not leap", refCheck("000229112345"), false, bad(msgDate)},
		{"Feb 29 2001", refCheck("010229312345"), false, bad(msgDate)},
		{"Feb 28 2001", refCheck("010228312345"), true, ok("2001-02-28", true, false)},
		{"day 00", refCheck("830300112345"), false, bad(msgDate)},
		{"day 32", refCheck("830132112345"), false, bad(msgDate)},
		{"Jan 31", refCheck("830131112345"), true, ok("1983-01-31", true, false)},
		{"Jun 31", refCheck("830631112345"), false, bad(msgDate)},
		{"Sep 31", refCheck("830931112345"), false, bad(msgDate)},
		{"Nov 31", refCheck("831131112345"), false, bad(msgDate)},
		{"Dec 31", refCheck("831231112345"), true, ok("1983-12-31", true, false)},
		{"month 00", refCheck("830015112345"), false, bad(msgDate)},
		{"month 13", refCheck("831315112345"), false, bad(msgDate)},
		{"month 20", refCheck("832015112345"), false, bad(msgDate)},

		// check digit off vs on
		{"wrong check, verify off", wrongCheck("830315112345"), false, ok("1983-03-15", true, false)},
		{"wrong check, verify on", wrongCheck("830315112345"), true, bad(msgCheck)},
		{"foreign wrong check, off", wrongCheck("900707512345"), false, ok("1990-07-07", true, true)},
		{"foreign wrong check, on", wrongCheck("900707512345"), true, bad(msgCheck)},
		{"citizen rule on foreigner", citizenRuleOnForeigner("900707512345"), true, bad(msgCheck)},
		{"citizen rule on foreigner, off", citizenRuleOnForeigner("900707512345"), false, ok("1990-07-07", true, true)},
		{"bad date wins over check off", "8302301123450", false, bad(msgDate)},

		// hyphen
		{"hyphen after 6th", hy(refCheck("830315112345")), true, ok("1983-03-15", true, false)},
		{"hyphen after 5th", "83031-51123450", false, bad(msgHyphen)},
		{"hyphen after 7th", "8303151-123450", false, bad(msgHyphen)},
		{"leading hyphen", "-8303151123450", false, bad(msgHyphen)},
		{"trailing hyphen", "8303151123450-", false, bad(msgHyphen)},
		{"two hyphens", "830315--1123450", false, bad(msgHyphen)},
		{"hyphen twice", "830315-11234-50", false, bad(msgHyphen)},
		{"hyphen and 12 digits", "830315-112345", false, bad(msgLength)},
		{"only hyphen", "-", false, bad(msgLength)},

		// whitespace
		{"surrounding ASCII space", " \t" + hy(refCheck("830315112345")) + "\r\n", true, ok("1983-03-15", true, false)},
		{"inner space", "830315 1123450", false, bad(msgChars)},
		{"space around hyphen", "830315 - 1123450", false, bad(msgChars)},
		{"ideographic space trailing", refCheck("830315112345") + "\u3000", false, bad(msgChars)},
		{"NBSP leading", "\u00a0" + refCheck("830315112345"), false, bad(msgChars)},
		{"only spaces", "   ", false, bad(msgEmpty)},
		{"empty", "", false, bad(msgEmpty)},

		// other characters
		{"letter", "8303151a23450", false, bad(msgChars)},
		{"letter prefix", "x8303151123450", false, bad(msgChars)},
		{"slash separator", "830315/1123450", false, bad(msgChars)},
		{"dot separator", "830315.1123450", false, bad(msgChars)},
		{"unicode hyphen U+2010", "830315\u20101123450", false, bad(msgChars)},
		{"en dash", "830315\u20131123450", false, bad(msgChars)},
		{"full-width digits", "８３０３１５１１２３４５０", false, bad(msgChars)},
		{"one full-width digit", "83031５1123450", false, bad(msgChars)},
		{"Arabic-Indic digit", "83031٥1123450", false, bad(msgChars)},
		{"NUL byte", "8303151123450\x00", false, bad(msgChars)},
		{"plus sign", "+8303151123450", false, bad(msgChars)},

		// length
		{"12 digits", "830315112345", false, bad(msgLength)},
		{"14 digits", "83031511234501", false, bad(msgLength)},
		{"1 digit", "8", false, bad(msgLength)},
		{"26 digits", "83031511234508303151123450", false, bad(msgLength)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := Parse(c.in, c.verify)
			if c.want.msg != "" {
				if err == nil {
					t.Fatalf("Parse accepted it: %v", id)
				}
				if msg := errMessage(t, err); msg != c.want.msg {
					t.Errorf("message = %q, want %q", msg, c.want.msg)
				}
				if id != (ID{}) {
					t.Errorf("failed Parse returned non-zero ID %v", id)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			bd := id.BirthDate()
			if got := bd.Format("2006-01-02"); got != c.want.birth {
				t.Errorf("BirthDate = %s, want %s", got, c.want.birth)
			}
			if bd.Location().String() != "UTC" || bd.Hour()|bd.Minute()|bd.Second()|bd.Nanosecond() != 0 {
				t.Errorf("BirthDate %v is not UTC midnight", bd)
			}
			if got := strconv.Itoa(id.BirthYear()); got != c.want.birth[:4] {
				t.Errorf("BirthYear = %s, want %s", got, c.want.birth[:4])
			}
			if id.Male() != c.want.male {
				t.Errorf("Male = %v, want %v", id.Male(), c.want.male)
			}
			if id.Foreign() != c.want.foreign {
				t.Errorf("Foreign = %v, want %v", id.Foreign(), c.want.foreign)
			}
			if strings.TrimSpace(c.in) != "" && c.verify {
				// Verification on only adds a check: it must also pass with it off.
				if _, err := Parse(c.in, false); err != nil {
					t.Errorf("valid with check but invalid without: %v", err)
				}
			}
		})
	}
}

// citizenRuleOnForeigner gives a foreign number the check digit the citizen
// rule would give it (the mistake the vector "citizen check digit on a
// foreign number" guards against). It panics if the two rules happen to agree,
// which would make the case meaningless.
func citizenRuleOnForeigner(first12 string) string {
	sum := 0
	for i, w := range "234567892345" {
		sum += int(first12[i]-'0') * int(w-'0')
	}
	s := first12 + strconv.Itoa((11-sum%11)%10)
	if s == refCheck(first12) {
		panic("rules agree for " + first12)
	}
	return s
}

func TestParseNormalises(t *testing.T) {
	plain := refCheck("830315112345")
	a, err1 := Parse(plain, true)
	b, err2 := Parse(plain[:6]+"-"+plain[6:], true)
	c, err3 := Parse("  "+plain+"\n", true)
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if a != b || a != c {
		t.Errorf("forms differ: %v %v %v", a.d, b.d, c.d)
	}
	if string(a.d[:]) != plain {
		t.Errorf("normalised digits %q, want %q", a.d[:], plain)
	}
}

func TestZeroID(t *testing.T) {
	var id ID
	if id.String() != "" || id.GoString() != "" || fmt.Sprint(id) != "" {
		t.Errorf("zero ID prints %q", id.String())
	}
	if !id.BirthDate().IsZero() || id.BirthYear() != 0 || id.Male() || id.Foreign() {
		t.Error("zero ID has non-zero attributes")
	}
	k := testKeyer(t, 1)
	if got := k.Key(id); got != "" {
		t.Errorf("Key(zero) = %q, want empty", got)
	}
}

// TestVectorsJSON: testdata/vectors.json, which the counter page's
// JavaScript validator is tested against too, agrees with Parse, and the
// rule served as data (CheckRules) reproduces every case: the browser
// needs nothing else.
func TestVectorsJSON(t *testing.T) {
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []struct {
			Note    string `json:"note"`
			ID      string `json:"id"`
			Verify  bool   `json:"verify_check_digit"`
			Valid   bool   `json:"valid"`
			Kind    string `json:"kind"`
			Birth   string `json:"birth_date"`
			Foreign bool   `json:"foreign"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, c := range doc.Cases {
		id, err := Parse(c.ID, c.Verify)
		if (err == nil) != c.Valid || Kind(err) != c.Kind {
			t.Errorf("%s: Parse = %v (kind %q), want valid=%v kind %q", c.Note, err, Kind(err), c.Valid, c.Kind)
			continue
		}
		if c.Valid && (id.BirthDate().Format("2006-01-02") != c.Birth || id.Foreign() != c.Foreign) {
			t.Errorf("%s: birth %s foreign %v, want %s %v", c.Note, id.BirthDate().Format("2006-01-02"), id.Foreign(), c.Birth, c.Foreign)
		}
		if got := byRules(CheckRules(c.Verify), c.ID); got != c.Kind {
			t.Errorf("%s: the served rules say %q, want %q", c.Note, got, c.Kind)
		}
		kinds[c.Kind] = true
	}
	for _, k := range []string{"", KindEmpty, KindChars, KindLength, KindHyphen, KindCentury, KindDate, KindCheck} {
		if !kinds[k] {
			t.Errorf("no vector of kind %q", k)
		}
	}
}

// byRules validates s from the served data only, the way the browser does.
func byRules(r Rules, s string) string {
	s = strings.Trim(s, " \t\r\n\v\f")
	if s == "" {
		return KindEmpty
	}
	var d []int
	hyphens, hyphenAt := 0, -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			d = append(d, int(c-'0'))
		case c == '-':
			hyphens++
			hyphenAt = len(d)
		default:
			return KindChars
		}
	}
	if len(d) != r.Length {
		return KindLength
	}
	if hyphens > 1 || (hyphens == 1 && hyphenAt != r.HyphenAfter) {
		return KindHyphen
	}
	base, ok := r.Centuries[strconv.Itoa(d[6])]
	if !ok {
		return KindCentury
	}
	y, m, day := base+d[0]*10+d[1], d[2]*10+d[3], d[4]*10+d[5]
	if m < 1 || m > 12 || day < 1 || day > time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return KindDate
	}
	if r.VerifyCheckDigit {
		sum := 0
		for i, w := range r.Weights {
			sum += d[i] * w
		}
		minuend := r.Minuend
		if strings.ContainsRune(r.ForeignDigits, rune('0'+d[6])) {
			minuend = r.ForeignMinuend
		}
		if (minuend-sum%r.Modulus)%10 != d[12] {
			return KindCheck
		}
	}
	return ""
}
