package public

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/snapshot"

	"github.com/publicmask/publicmask/internal/httpx"
)

// Address search: the ambiguous_address answer of storesByAddr and
// /api/v2/places (DESIGN.md §4.1, §4.2).

// writeAddrErr answers a storesByAddr refusal: an ambiguous address is 400
// ambiguous_address with the candidates in the message and, beside the
// error, in a "candidates" array; anything else is the usual error body.
func writeAddrErr(w http.ResponseWriter, err error) {
	var amb *snapshot.AmbiguousError
	if !errors.As(err, &amb) {
		httpx.WriteError(w, err)
		return
	}
	httpx.Write(w, httpx.Body{
		Error:      httpx.Detail{Code: publicmask.EAmbiguousAddress, Message: amb.Message()},
		Candidates: amb.Candidates,
	})
}

// placesQuery is /api/v2/places: q required, limit 1…50 (default 10).
type placesQuery struct {
	q     string
	limit int
}

const maxPlaces = 50

func (p params) placesQuery() (placesQuery, error) {
	q := placesQuery{q: p.v[pQ], limit: 10}
	if q.q == "" {
		return q, badRequest("q is required")
	}
	if len(q.q) > 200 {
		return q, badRequest("q is too long")
	}
	n, ok, err := p.intParam(pLimit)
	if err != nil {
		return q, err
	}
	if ok {
		q.limit = min(max(n, 1), maxPlaces)
	}
	return q, nil
}

var placePool = sync.Pool{New: func() any { p := make([]snapshot.Place, 0, maxPlaces); return &p }}

func (h *handler) places(w http.ResponseWriter, req *http.Request) {
	q, s, ok := parseRequest(h, w, req, params.placesQuery)
	if !ok {
		return
	}
	k := append([]byte("places|"), q.q...)
	k = append(k, '|')
	k = strconv.AppendInt(k, int64(q.limit), 10)
	h.respond(w, req, s, k, dynamic(func(b []byte) []byte {
		pp := placePool.Get().(*[]snapshot.Place)
		ps := s.Places(q.q, q.limit, (*pp)[:0])
		b = append(b, `{"places":[`...)
		for i, p := range ps {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"label":`...)
			b = snapshot.AppendString(b, p.Label)
			b = append(b, `,"kind":"`...)
			b = append(b, p.Kind.String()...)
			b = append(b, `","lat":`...)
			b = appendCoord(b, p.Lat)
			b = append(b, `,"lng":`...)
			b = appendCoord(b, p.Lng)
			b = append(b, `,"outlets":`...)
			b = strconv.AppendInt(b, int64(p.Outlets), 10)
			b = append(b, '}')
		}
		*pp = ps[:0]
		placePool.Put(pp)
		return append(b, "]}\n"...)
	}))
}

// appendCoord writes a place's mean coordinate, rounded to 7 decimals (about
// 1 cm), or null for a place none of whose outlets has one.
func appendCoord(b []byte, v float64) []byte {
	if math.IsNaN(v) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, math.Round(v*1e7)/1e7, 'f', -1, 64)
}
