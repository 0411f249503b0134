package httpapi

import (
	"bytes"
	"net/http"
)

// A sale's body is the one body read thousands of times a second, and
// encoding/json spends most of its time there on reflection and on
// reading through a Decoder. parseSale reads the common shape of a sale
// body directly; anything it is not sure about (an unknown or repeated
// key, a key in another case, an escape or a byte outside printable ASCII
// in a string, a number that is not a plain integer, trailing bytes, a
// syntax error, a body at the limit) makes it give up, and the body goes
// through decodeJSON as before. So every error, and every accepted body's
// meaning, is encoding/json's: FuzzParseSaleIsDecodeJSON checks that what
// parseSale accepts decodes to the same value there.

// heldBody is a request body already read into memory (readBody): its
// bytes can be parsed in place.
type heldBody struct {
	*bytes.Reader
	b []byte
}

func (heldBody) Close() error { return nil }

// decodeSale decodes a sale or check body into in, through parseSale when
// it can.
func decodeSale(w http.ResponseWriter, r *http.Request, limit int64, in *saleIn) error {
	if hb, ok := r.Body.(*heldBody); ok && int64(len(hb.b)) < limit && hb.Len() == len(hb.b) {
		if parseSale(hb.b, in) {
			return nil
		}
		*in = saleIn{}
	}
	return decodeJSON(w, r, limit, in)
}

// saleParser reads one JSON object of the sale's shape.
type saleParser struct {
	b []byte
	i int
}

// parseSale reports whether it read b as a sale body into in; on false,
// in holds a partial result and b must be decoded by encoding/json.
func parseSale(b []byte, in *saleIn) bool {
	p := saleParser{b: b}
	if !p.object(func(key []byte, seen *uint8) bool { return p.saleField(key, seen, in) }) {
		return false
	}
	p.ws()
	return p.i == len(p.b)
}

func (p *saleParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips white space and reports whether the next byte is c, taking it.
func (p *saleParser) next(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// object reads {"key": value, ...}; field reads each value and refuses a
// key it does not know or has seen (seen: its bits).
func (p *saleParser) object(field func(key []byte, seen *uint8) bool) bool {
	if !p.next('{') {
		return false
	}
	if p.next('}') {
		return true
	}
	var seen uint8
	for {
		key, ok := p.str()
		if !ok || !p.next(':') || !field(key, &seen) {
			return false
		}
		if p.next('}') {
			return true
		}
		if !p.next(',') {
			return false
		}
	}
}

// once marks bit in seen, false if it was already set.
func once(seen *uint8, bit uint8) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

func (p *saleParser) saleField(key []byte, seen *uint8, in *saleIn) bool {
	switch string(key) {
	case "txn_id":
		return once(seen, 1) && p.strField(&in.TxnID)
	case "buyer":
		return once(seen, 2) && p.strField(&in.Buyer)
	case "quantity":
		return once(seen, 4) && p.intField(&in.Quantity)
	case "on_behalf_of":
		return once(seen, 8) && p.persons(&in.OnBehalfOf)
	case "sold_at":
		return once(seen, 16) && p.strPtrField(&in.SoldAt)
	case "offline":
		return once(seen, 32) && p.boolField(&in.Offline)
	case "sealed":
		return once(seen, 64) && p.strField(&in.Sealed)
	}
	return false
}

func (p *saleParser) personField(key []byte, seen *uint8, in *personIn) bool {
	switch string(key) {
	case "id":
		return once(seen, 1) && p.strField(&in.ID)
	case "category":
		return once(seen, 2) && p.strField(&in.Category)
	case "quantity":
		return once(seen, 4) && p.intField(&in.Quantity)
	}
	return false
}

// persons reads null or an array of person objects.
func (p *saleParser) persons(out *[]personIn) bool {
	if p.null() {
		*out = nil
		return true
	}
	if !p.next('[') {
		return false
	}
	list := []personIn{}
	if !p.next(']') {
		for {
			var in personIn
			if !p.object(func(key []byte, seen *uint8) bool { return p.personField(key, seen, &in) }) {
				return false
			}
			list = append(list, in)
			if p.next(']') {
				break
			}
			if !p.next(',') {
				return false
			}
		}
	}
	*out = list
	return true
}

// null takes the literal null if it comes next. A literal must be followed
// by a delimiter; the caller's next expected byte checks that.
func (p *saleParser) null() bool { return p.literal("null") }

func (p *saleParser) literal(lit string) bool {
	p.ws()
	if len(p.b)-p.i >= len(lit) && string(p.b[p.i:p.i+len(lit)]) == lit {
		p.i += len(lit)
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes.
func (p *saleParser) str() ([]byte, bool) {
	if !p.next('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) && strPlain[p.b[p.i]] {
		p.i++
	}
	if p.i < len(p.b) && p.b[p.i] == '"' {
		s := p.b[start:p.i]
		p.i++
		return s, true
	}
	return nil, false // a control byte, non-ASCII, an escape, or the end
}

// strPlain: the bytes str takes inside a string (0x20–0x7f but '"' and
// '\\'), one table look-up a byte.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c <= 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// strField reads a string, or null (which leaves a string as it is, as
// encoding/json does).
func (p *saleParser) strField(dst *string) bool {
	if p.null() {
		return true
	}
	s, ok := p.str()
	if ok {
		*dst = string(s)
	}
	return ok
}

func (p *saleParser) strPtrField(dst **string) bool {
	if p.null() {
		*dst = nil
		return true
	}
	s, ok := p.str()
	if ok {
		v := string(s)
		*dst = &v
	}
	return ok
}

func (p *saleParser) boolField(dst *bool) bool {
	switch {
	case p.null():
	case p.literal("true"):
		*dst = true
	case p.literal("false"):
		*dst = false
	default:
		return false
	}
	return true
}

// intField reads null or a plain integer of at most 18 digits (no
// fraction, no exponent, no leading zero): always within an int.
func (p *saleParser) intField(dst **int) bool {
	if p.null() {
		*dst = nil
		return true
	}
	n, ok := p.integer()
	if ok {
		*dst = &n
	}
	return ok
}

// integer reads a plain integer of at most 18 digits (no fraction, no
// exponent, no leading zero).
func (p *saleParser) integer() (int, bool) {
	p.ws()
	neg := p.i < len(p.b) && p.b[p.i] == '-'
	if neg {
		p.i++
	}
	start := p.i
	n := 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		n = n*10 + int(p.b[p.i]-'0')
		p.i++
	}
	digits := p.i - start
	if digits == 0 || digits > 18 || (digits > 1 && p.b[start] == '0') {
		return 0, false
	}
	if p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}
