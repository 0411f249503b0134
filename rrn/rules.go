package rrn

import "github.com/publicmask/publicmask"

// Rules is the validation of Parse as data, served to the counter page so
// that the browser checks an ID with the server's rule rather than a second
// implementation that could drift (DESIGN.md §6.3). testdata/vectors.json
// holds the cases that both the Go and the JavaScript side must agree on.
type Rules struct {
	Length      int `json:"length"`       // digits
	HyphenAfter int `json:"hyphen_after"` // the one optional hyphen follows this many digits
	// Centuries maps the 7th digit to the first year of the birth century;
	// digits missing from it are refused.
	Centuries map[string]int `json:"centuries"`
	// ForeignDigits are the 7th digits of alien registration numbers.
	ForeignDigits string `json:"foreign_digits"`
	// The check digit: (minuend − Σ digit[i]·weights[i] mod modulus) mod 10,
	// over the first 12 digits, with the foreign minuend for alien numbers.
	Weights          []int `json:"weights"`
	Modulus          int   `json:"modulus"`
	Minuend          int   `json:"minuend"`
	ForeignMinuend   int   `json:"foreign_minuend"`
	VerifyCheckDigit bool  `json:"verify_check_digit"` // the policy in force today
	// Messages are Parse's error messages by kind (see Kind), in English.
	Messages map[string]string `json:"messages"`
}

// CheckRules returns Rules; verify is the policy's switch for today.
func CheckRules(verify bool) Rules {
	return Rules{
		Length: 13, HyphenAfter: 6,
		Centuries:     map[string]int{"1": 1900, "2": 1900, "5": 1900, "6": 1900, "3": 2000, "4": 2000, "7": 2000, "8": 2000},
		ForeignDigits: "5678",
		Weights:       weights[:], Modulus: 11, Minuend: 11, ForeignMinuend: 13,
		VerifyCheckDigit: verify,
		Messages:         map[string]string{KindEmpty: msgEmpty, KindChars: msgChars, KindLength: msgLength, KindHyphen: msgHyphen, KindCentury: msgCentury, KindDate: msgDate, KindCheck: msgCheck},
	}
}

// Kinds of invalid IDs, one per message of Parse.
const (
	KindEmpty   = "empty"
	KindChars   = "chars"
	KindLength  = "length"
	KindHyphen  = "hyphen"
	KindCentury = "century"
	KindDate    = "date"
	KindCheck   = "check"
)

// Kind returns the kind of a Parse error ("" for nil or another error), so
// that a caller can say exactly what is wrong without quoting the input.
func Kind(err error) string {
	if err == nil {
		return ""
	}
	e, ok := err.(*publicmask.Error)
	if !ok {
		return ""
	}
	switch e.Message {
	case msgEmpty:
		return KindEmpty
	case msgChars:
		return KindChars
	case msgLength:
		return KindLength
	case msgHyphen:
		return KindHyphen
	case msgCentury:
		return KindCentury
	case msgDate:
		return KindDate
	case msgCheck:
		return KindCheck
	}
	return ""
}
