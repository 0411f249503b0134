package httpapi

import (
	"net/http"

	"github.com/publicmask/publicmask/ledger"
)

// A delivery list of 50,000 lines is 3.4 MB of JSON that encoding/json
// read through reflection and a Decoder in ~60–180 ms, before the ledger
// could write its first chunk (the writer waits meanwhile: BENCHMARKS.md
// "Loading (7th pass)"). parseDeliveries reads the common shape — an array
// of objects with the keys outlet, quantity and txn_id — with the sale
// body's parser, and gives up on anything else as parseSale does (an
// unknown, repeated or differently cased key, an escape or a byte outside
// printable ASCII in a string, a number that is not a plain integer,
// trailing bytes, a syntax error, a body at the limit). The body then goes
// through decodeJSON as before, so every error, and every accepted body's
// meaning, is encoding/json's: FuzzParseDeliveriesIsDecodeJSON.

// decodeDeliveries decodes a delivery list into in (empty, possibly with
// capacity), through parseDeliveries when it can.
func decodeDeliveries(w http.ResponseWriter, r *http.Request, limit int64, in *[]ledger.DeliveryRequest) error {
	if hb, ok := r.Body.(*heldBody); ok && int64(len(hb.b)) < limit && hb.Len() == len(hb.b) {
		if parseDeliveries(hb.b, in) {
			return nil
		}
		// encoding/json decodes into the elements of the slice's array
		// without zeroing them: leave it nothing of the partial read.
		clear((*in)[:cap(*in)])
		*in = (*in)[:0]
	}
	return decodeJSON(w, r, limit, in)
}

// parseDeliveries reports whether it read b as a delivery list, appended
// to *in; on false, *in's array holds a partial result.
func parseDeliveries(b []byte, in *[]ledger.DeliveryRequest) bool {
	p := saleParser{b: b}
	if !p.next('[') {
		return false
	}
	list := *in
	if list == nil {
		list = []ledger.DeliveryRequest{} // [] decodes to an empty list, not nil
	}
	if !p.next(']') {
		for {
			list = append(list, ledger.DeliveryRequest{})
			d := &list[len(list)-1]
			if !p.object(func(key []byte, seen *uint8) bool { return p.deliveryField(key, seen, d) }) {
				*in = list
				return false
			}
			if p.next(']') {
				break
			}
			if !p.next(',') {
				*in = list
				return false
			}
		}
	}
	*in = list
	p.ws()
	return p.i == len(p.b)
}

func (p *saleParser) deliveryField(key []byte, seen *uint8, d *ledger.DeliveryRequest) bool {
	switch string(key) {
	case "outlet":
		return once(seen, 1) && p.strField(&d.Outlet)
	case "quantity":
		if !once(seen, 2) {
			return false
		}
		if p.null() { // leaves the int as it is, as encoding/json does
			return true
		}
		n, ok := p.integer()
		d.Quantity = n
		return ok
	case "txn_id":
		return once(seen, 4) && p.strField(&d.TxnID)
	}
	return false
}
