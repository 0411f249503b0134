package ledger

import (
	"encoding/json"
	"strconv"
	"time"
)

// MarshalJSON writes what encoding/json writes for r, without reflection:
// a delivery list of 50,000 lines encodes 100,000 receipts (the answer kept
// for replays and the response), and reflection was a tenth of its CPU.
// Values it cannot write byte for byte as encoding/json would (text to
// escape, odd times) take the reflective path.
func (r StockReceipt) MarshalJSON() ([]byte, error) {
	return r.appendJSON(make([]byte, 0, 256))
}

// receiptJSONSize is about the length of a delivery's receipt in JSON
// (~190 bytes): a delivery list's receipts are appended to one block of
// this much a line (deliverBulk).
const receiptJSONSize = 200

// appendBody appends r's JSON to block and returns the block grown and
// the body within it, capped at its end, so that nothing appended to the
// block later runs into the body (a chunk's receipts share one block).
func (r *StockReceipt) appendBody(block []byte) (grown, body []byte, err error) {
	start := len(block)
	grown, err = r.appendJSON(block)
	if err != nil {
		return block, nil, err
	}
	return grown, grown[start:len(grown):len(grown)], nil
}

// appendJSON appends to b what MarshalJSON gives.
func (r *StockReceipt) appendJSON(b []byte) ([]byte, error) {
	if !plainJSON(r.ID) || !plainJSON(r.Outlet) || !plainJSON(r.Status) || !plainTime(r.At) || !plainTime(r.StockAt) {
		type reflective StockReceipt
		j, err := json.Marshal(reflective(*r))
		return append(b, j...), err
	}
	b = append(b, `{"id":"`...)
	b = append(b, r.ID...)
	b = append(b, `","outlet":"`...)
	b = append(b, r.Outlet...)
	b = append(b, `","at":"`...)
	b = r.At.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","stock":`...)
	b = strconv.AppendInt(b, int64(r.Stock), 10)
	b = append(b, `,"remain_stat":"`...)
	b = append(b, r.Status...)
	b = append(b, `","stock_at":"`...)
	b = r.StockAt.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...), nil
}

// plainJSON reports whether encoding/json writes s as itself in quotes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// plainTime reports whether time.Time's MarshalJSON writes t as its
// RFC 3339 form with nanoseconds (it refuses years beyond 9999 and zone
// offsets of seconds or a day).
func plainTime(t time.Time) bool {
	_, off := t.Zone()
	return t.Year() >= 0 && t.Year() <= 9999 && off%60 == 0 && off > -24*3600 && off < 24*3600
}
