package snapshot

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/utf8x"
)

// The JSON of the public API is appended by hand: an outlet's fragments are
// encoded once when the outlet changes and then copied into every response,
// which is what keeps storesByGeo close to the cost of a fixed body.

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD and
// U+2028/2029 are escaped, as encoding/json does; so are < > & and the
// controls, as \u00XX save \n, \r and \t (encoding/json writes \b and \f
// short: both are the same JSON).
func AppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		if utf8x.PlainThreeByte(s, i) {
			// Hangul (not U+2028/2029, which need escaping), without the
			// decoder's call.
			i += 3
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendFloat appends f in the shortest form that round-trips (37.6254369).
func AppendFloat(b []byte, f float64) []byte { return strconv.AppendFloat(b, f, 'f', -1, 64) }

func append2(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }

// AppendV1Time appends t as the 2020 API did: "YYYY/MM/DD HH:mm:ss" in Korea
// time, or null for the zero time.
func AppendV1Time(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = appendClock(b, t.In(publicmask.Seoul), '/', ' ')
	return append(b, '"')
}

// appendClock appends t's date and time to the second: year, month and day
// separated by dateSep, then sep, then hh:mm:ss.
func appendClock(b []byte, t time.Time, dateSep, sep byte) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	b = strconv.AppendInt(b, int64(y), 10)
	b = append(b, dateSep)
	b = append2(b, int(mo))
	b = append(b, dateSep)
	b = append2(b, d)
	b = append(b, sep)
	b = append2(b, h)
	b = append(b, ':')
	b = append2(b, mi)
	b = append(b, ':')
	return append2(b, s)
}

// AppendRFC3339 appends t in RFC 3339 (Korea time, whole seconds unless it
// has a fraction), or null for the zero time.
func AppendRFC3339(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	t = t.In(publicmask.Seoul)
	if t.Nanosecond() != 0 {
		b = append(b, '"')
		b = t.AppendFormat(b, time.RFC3339Nano)
		return append(b, '"')
	}
	// Whole seconds (every time the ledger records) by hand: answers
	// encode these per outlet, and AppendFormat costs several times more.
	// +09:00 by hand holds since 1988 (Korea's last daylight saving time).
	if _, off := t.Zone(); t.Year() < 1000 || t.Year() > 9999 || off != 9*60*60 {
		b = append(b, '"')
		b = t.AppendFormat(b, time.RFC3339Nano)
		return append(b, '"')
	}
	b = append(b, '"')
	b = appendClock(b, t, '-', 'T')
	return append(b, `+09:00"`...)
}

func appendStat(b []byte, stat string) []byte {
	if stat == "" {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = append(b, stat...)
	return append(b, '"')
}

// appendV1Stock closes a 2020 record with its three stock fields, which
// the nine-field stores and the sales records share.
func (e *Entry) appendV1Stock(b []byte) []byte {
	b = append(b, `,"stock_at":`...)
	b = AppendV1Time(b, e.StockAt())
	b = append(b, `,"remain_stat":`...)
	b = appendStat(b, e.Stat())
	b = append(b, `,"created_at":`...)
	b = AppendV1Time(b, e.createdAt())
	return append(b, '}')
}

// appendRegistry opens an outlet object with the six registry fields that
// the 2020 stores, v1 nine-field and v2 records all begin with. enc holds
// the encoded lengths of code, name, addr and type between their quotes
// (a string's own length when b holds it verbatim).
func appendRegistry(b []byte, o *publicmask.Outlet) (_ []byte, enc [4]int) {
	for k, f := range [...]struct{ key, val string }{{`{"code":`, o.Code}, {`,"name":`, o.Name}, {`,"addr":`, o.Addr}, {`,"type":`, o.Type}} {
		b = append(b, f.key...)
		start := len(b)
		b = AppendString(b, f.val)
		enc[k] = len(b) - start - 2
	}
	b = append(b, `,"lat":`...)
	b = AppendFloat(b, o.Lat)
	b = append(b, `,"lng":`...)
	return AppendFloat(b, o.Lng), enc
}

// createdAt is the v1 created_at: the outlet's last change, null (as in 2020)
// while it has never been stocked.
func (e *Entry) createdAt() time.Time {
	if !e.Stocked() {
		return time.Time{}
	}
	return e.UpdatedAt()
}

// registryJSON is the encoded registry fields: the record without its
// closing brace.
func (e *Entry) registryJSON() string { return e.reg }

const (
	v1TimeLen = len("2020/03/11 08:00:00")
	v1StockAt = 1 << 0 // v1[0] holds stock_at (else null)
	v1Created = 1 << 1 // v1[1] holds created_at (else null)
	v1Slow    = 1 << 2 // a time does not fit v1TimeLen: encode per answer
	// v1TailMax bounds the stock fields of a v1 record and the comma before
	// it, as encoded by appendTail (the slow path may exceed it; the
	// buffer then grows).
	v1TailMax = len(`,"stock_at":"","remain_stat":"plenty","created_at":""}`) + 2*v1TimeLen + 1
)

// setV1Times encodes the v1 record's two times into the entry.
func (e *Entry) setV1Times() {
	for k, t := range [2]time.Time{e.StockAt(), e.createdAt()} {
		if t.IsZero() {
			continue
		}
		if b := appendClock(e.v1[k][:0], t.In(publicmask.Seoul), '/', ' '); len(b) != v1TimeLen {
			e.v1Set = v1Slow
			return
		}
		e.v1Set |= 1 << k
	}
}

// v1Mid is what lies between the v1 record's two times when both are set:
// the end of stock_at, remain_stat (by statOrder) and the start of
// created_at.
var v1Mid = func() (m [nStats]string) {
	for i, st := range statOrder {
		m[i] = string(appendStat([]byte(`","remain_stat":`), st)) + `,"created_at":"`
	}
	return m
}()

// appendTail appends the v1 record's stock fields, as encoded at the change.
func (e *Entry) appendTail(b []byte) []byte {
	switch e.v1Set {
	case v1StockAt | v1Created: // every stocked outlet
		b = append(b, `,"stock_at":"`...)
		b = append(b, e.v1[0][:]...)
		b = append(b, v1Mid[e.stat]...)
		b = append(b, e.v1[1][:]...)
		return append(b, `"}`...)
	case 0: // never stocked
		b = append(b, `,"stock_at":null,"remain_stat":`...)
		b = appendStat(b, e.Stat())
		return append(b, `,"created_at":null}`...)
	}
	return e.appendV1Stock(b)
}

// AppendV1 appends the nine-field v1 record of storesByGeo/storesByAddr.
func (e *Entry) AppendV1(b []byte) []byte {
	b = append(b, e.reg...)
	return e.appendTail(b)
}

// AppendV2 appends the v2 outlet object; withDist adds distance_m (whole
// metres).
func (e *Entry) AppendV2(b []byte, dist float64, withDist bool) []byte {
	b = append(b, e.registryJSON()...)
	b = append(b, `,"remain_stat":`...)
	b = appendStat(b, e.Stat())
	b = append(b, `,"stock_at":`...)
	b = AppendRFC3339(b, e.StockAt())
	b = append(b, `,"updated_at":`...)
	b = AppendRFC3339(b, e.UpdatedAt())
	b = e.appendForecast(b)
	if withDist {
		b = append(b, `,"distance_m":`...)
		b = strconv.AppendInt(b, int64(dist+0.5), 10)
	}
	return append(b, '}')
}

// AppendStoreInfo appends the six-field record of /stores/json.
func (e *Entry) AppendStoreInfo(b []byte) []byte {
	b = append(b, e.registryJSON()...)
	return append(b, '}')
}

// AppendSale appends the four-field record of /sales/json: the code and
// the v1 record's stock fields.
func (e *Entry) AppendSale(b []byte) []byte {
	b = append(b, `{"code":`...)
	b = AppendString(b, e.Code())
	return e.appendTail(b)
}
