package rush

import (
	"encoding/json"
	"strconv"
)

// parseReceipt reads a sale's receipt into r. The server writes receipts
// in one fixed order (ledger/receipt.go), and the load reads thousands a
// second on the cores it shares with the server, so the common shape is
// read directly: sale_id, sold_at, items (role, quantity,
// remaining_this_week), outlet (stock, remain_stat), and the end. Any
// other byte (an escape, a late or conflict field, another order, a
// malformed body) hands the whole body to json.Unmarshal, so what is
// accepted and refused stays encoding/json's; FuzzParseReceiptIsUnmarshal
// checks that the direct reading agrees with it.
func parseReceipt(b []byte, r *receipt) error {
	if parseReceiptFast(b, r) {
		return nil
	}
	// Decoded into its own value: r handed to json.Unmarshal made every
	// sale's receipt a heap allocation, for this rare path.
	var d receipt
	err := json.Unmarshal(b, &d)
	*r = d
	return err
}

// roleString is a receipt item's role as a string, the policy's two without an
// allocation.
func roleString(b []byte) string {
	switch string(b) {
	case "buyer":
		return "buyer"
	case "proxy":
		return "proxy"
	}
	return string(b)
}

type receiptParser struct {
	b []byte
	i int
}

func (p *receiptParser) lit(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// str reads the rest of a string of printable ASCII without escapes, its
// opening quote already taken, and the closing quote.
func (p *receiptParser) str() ([]byte, bool) {
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// int reads a plain integer of at most 18 digits.
func (p *receiptParser) int() (int, bool) {
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	d := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	if n := p.i - d; n == 0 || n > 18 || (n > 1 && p.b[d] == '0') {
		return 0, false
	}
	if p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return 0, false
	}
	v, err := strconv.Atoi(string(p.b[start:p.i]))
	return v, err == nil
}

func parseReceiptFast(b []byte, r *receipt) bool {
	p := receiptParser{b: b}
	if !p.lit(`{"sale_id":"`) {
		return false
	}
	id, ok := p.str()
	if !ok || !p.lit(`,"sold_at":"`) {
		return false
	}
	start := p.i - 1
	if _, ok := p.str(); !ok || r.SoldAt.UnmarshalJSON(b[start:p.i]) != nil {
		return false
	}
	r.SaleID = string(id)
	if !p.lit(`,"items":[`) {
		return false
	}
	r.Items = []receiptItem{}
	for first := true; !p.lit("]"); first = false {
		if !first && !p.lit(",") || !p.lit(`{"role":"`) {
			return false
		}
		role, ok := p.str()
		if !ok || !p.lit(`,"quantity":`) {
			return false
		}
		q, ok := p.int()
		if !ok || !p.lit(`,"remaining_this_week":`) {
			return false
		}
		if !p.lit("null") {
			if _, ok := p.int(); !ok {
				return false
			}
		}
		if !p.lit("}") {
			return false
		}
		r.Items = append(r.Items, receiptItem{Role: roleString(role), Quantity: q})
	}
	if !p.lit(`,"outlet":{"stock":`) {
		return false
	}
	if r.Outlet.Stock, ok = p.int(); !ok || !p.lit(`,"remain_stat":"`) {
		return false
	}
	stat, ok := p.str()
	if !ok || !p.lit(`}}`) {
		return false
	}
	r.Outlet.RemainStat = string(stat)
	p.lit("\n")
	return p.i == len(p.b)
}
