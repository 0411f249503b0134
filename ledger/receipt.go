package ledger

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/publicmask/publicmask"
)

// encode returns the receipt's JSON exactly as json.Marshal writes it, the
// byte-identical first answer a replay returns (DESIGN.md §6.6). It runs
// once per sale in the writer: appending the few fields directly costs a
// fraction of the reflection. Anything it would have to escape, or a time
// that MarshalJSON refuses, goes through json.Marshal itself.
func (r *Receipt) encode() ([]byte, error) {
	if !r.plainText() {
		type plain Receipt
		return json.Marshal((*plain)(r))
	}
	b := make([]byte, 0, 160+48*len(r.Items))
	b = append(b, `{"sale_id":"`...)
	b = append(b, r.SaleID...)
	b = append(b, `","sold_at":"`...)
	b = r.SoldAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","items":`...)
	if r.Items == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, it := range r.Items {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"role":"`...)
			b = append(b, it.Role...)
			b = append(b, `","quantity":`...)
			b = strconv.AppendInt(b, int64(it.Quantity), 10)
			b = append(b, `,"remaining_this_week":`...)
			if it.RemainingThisWeek == nil {
				b = append(b, "null"...)
			} else {
				b = strconv.AppendInt(b, int64(*it.RemainingThisWeek), 10)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"outlet":{"stock":`...)
	b = strconv.AppendInt(b, int64(r.Outlet.Stock), 10)
	b = append(b, `,"remain_stat":"`...)
	b = append(b, r.Outlet.RemainStat...)
	b = append(b, `"}`...)
	if r.Late {
		b = append(b, `,"late":true`...)
	}
	if r.Conflict != "" {
		b = append(b, `,"conflict":"`...)
		b = append(b, r.Conflict...)
		b = append(b, '"')
	}
	if len(r.ConflictReasons) > 0 {
		b = append(b, `,"conflict_reasons":[`...)
		for i, c := range r.ConflictReasons {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, c...)
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// plainText reports whether every string of r needs no escaping in JSON
// and its time is one that Time.MarshalJSON accepts.
func (r *Receipt) plainText() bool {
	if y := r.SoldAt.Year(); y < 0 || y > 9999 {
		return false
	}
	if _, off := r.SoldAt.Zone(); off%60 != 0 || off <= -24*3600 || off >= 24*3600 {
		return false
	}
	ok := publicmask.JSONPlain(r.SaleID) && publicmask.JSONPlain(r.Outlet.RemainStat) && publicmask.JSONPlain(r.Conflict)
	for _, it := range r.Items {
		ok = ok && publicmask.JSONPlain(it.Role)
	}
	for _, c := range r.ConflictReasons {
		ok = ok && publicmask.JSONPlain(c)
	}
	return ok
}
