package httpapi

import (
	"encoding/json"
)

// deliveryResults is json.Marshal of {"results": out}, byte for byte, with
// the usual line (recorded, plain text) written by hand: reflection over a
// 50,000-line answer was a tenth of a delivery list's CPU. Other lines
// (refusals, text to escape) go through encoding/json.
func deliveryResults(out []deliveryLineOut) ([]byte, error) {
	b := make([]byte, 0, 16+len(out)*248) // ~240 a line; room for the newline (writeJSONOwned)
	b = append(b, `{"results":[`...)
	for i := range out {
		if i > 0 {
			b = append(b, ',')
		}
		l := &out[i]
		if l.Error == nil && l.Receipt != nil && plainText(l.Outlet) && plainText(l.TxnID) {
			// The receipt's own MarshalJSON writes it as encoding/json
			// would embed it: compact, nothing left to escape. The
			// ledger's recorded answer is those bytes already.
			r := l.receiptJSON
			if r == nil {
				var err error
				if r, err = l.Receipt.MarshalJSON(); err != nil {
					return nil, err
				}
			}
			b = append(b, `{"outlet":"`...)
			b = append(b, l.Outlet...)
			b = append(b, `","txn_id":"`...)
			b = append(b, l.TxnID...)
			b = append(b, `","ok":`...)
			b = appendBool(b, l.OK)
			b = append(b, `,"receipt":`...)
			b = append(b, r...)
			b = append(b, '}')
			continue
		}
		one, err := json.Marshal(l)
		if err != nil {
			return nil, err
		}
		b = append(b, one...)
	}
	return append(b, "]}"...), nil
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// plainText reports whether encoding/json writes s as itself in quotes.
func plainText(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
