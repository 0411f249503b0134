package public

import (
	"compress/gzip"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/publicmask/publicmask/snapshot"

	"github.com/publicmask/publicmask/internal/httpx"
	"github.com/publicmask/publicmask/rrn"
)

// The 2020 NIA API, endpoint for endpoint (DESIGN.md §4.1).

func (h *handler) stores(w http.ResponseWriter, req *http.Request) {
	h.page(w, req, "storeInfos", (*snapshot.Entry).AppendStoreInfo, true)
}

func (h *handler) sales(w http.ResponseWriter, req *http.Request) {
	h.page(w, req, "sales", (*snapshot.Entry).AppendSale, false)
}

// page serves one page of stores or sales. Pages inside the list are
// encoded once per snapshot (stores: once per registry, since a sale does
// not change them) and served from the cache, with a gzip variant.
func (h *handler) page(w http.ResponseWriter, req *http.Request, field string,
	rec func(*snapshot.Entry, []byte) []byte, registryScoped bool) {
	q, s, ok := parseRequest(h, w, req, params.pageQuery)
	if !ok {
		return
	}
	n := s.Len()
	totalPages := (n + q.perPage - 1) / q.perPage
	build := func() []byte {
		from := min((q.page-1)*q.perPage, n)
		if q.page-1 >= totalPages { // also guards the multiplication above
			from = n
		}
		to := min(from+q.perPage, n)
		b := make([]byte, 0, 64+(to-from)*pageRecSize(field))
		b = append(b, `{"count":`...)
		b = strconv.AppendInt(b, int64(to-from), 10)
		b = append(b, `,"page":"`...)
		b = strconv.AppendInt(b, int64(q.page), 10)
		b = append(b, `","`...)
		b = append(b, field...)
		b = append(b, `":[`...)
		for i := from; i < to; i++ {
			if i > from {
				b = append(b, ',')
			}
			b = rec(s.At(i), b)
		}
		b = append(b, `],"totalCount":`...)
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, `,"totalPages":`...)
		b = strconv.AppendInt(b, int64(totalPages), 10)
		return append(b, "}\n"...)
	}
	var key [48]byte
	k := append(key[:0], field...)
	k = append(k, '|')
	k = strconv.AppendInt(k, int64(q.perPage), 10)
	k = append(k, '|')
	k = strconv.AppendInt(k, int64(q.page), 10)
	var body bodyFunc
	switch {
	case q.page > totalPages:
		// Past the end: tiny, and not worth a cache slot per page number.
		body = func(gz bool) ([]byte, func(), bool) {
			b := build()
			if gz {
				b = gzipBytes(b, gzip.BestSpeed)
			}
			return b, nil, false
		}
	case registryScoped:
		body = cached(s.RegistryCached, string(k), gzip.BestCompression, true, build)
	default:
		body = cached(s.Cached, string(k), gzip.BestSpeed, false, build)
	}
	h.respond(w, req, s, k, body)
}

func pageRecSize(field string) int {
	if field == "sales" {
		return 110
	}
	return 180
}

// v1RecordSize is about the size of a nine-field v1 record (245 bytes on
// average in Seoul): an answer's buffer grows once to hold them all instead
// of doubling through a large answer (a radius with thousands of outlets).
const v1RecordSize = 256

// hitPool holds the result slices of radius queries.
var hitPool = sync.Pool{New: func() any { h := make([]snapshot.Hit, 0, 256); return &h }}

// entryPool holds the entries of radius answers (Snapshot.Gather).
var entryPool = sync.Pool{New: func() any { e := make([]*snapshot.Entry, 0, 256); return &e }}

// parseRequest parses the query string into the route's typed query
// (parse is one of the params methods) and takes the current snapshot;
// when ok is false it has already answered with the error.
func parseRequest[Q any](h *handler, w http.ResponseWriter, req *http.Request, parse func(params) (Q, error)) (q Q, s *snapshot.Snapshot, ok bool) {
	p, ok := query(w, req)
	if !ok {
		return q, nil, false
	}
	q, err := parse(p)
	if err != nil {
		httpx.WriteError(w, err)
		return q, nil, false
	}
	if s = h.current(w); s == nil {
		return q, nil, false
	}
	return q, s, true
}

func (h *handler) storesByGeo(w http.ResponseWriter, req *http.Request) {
	q, s, ok := parseRequest(h, w, req, params.geoQuery)
	if !ok {
		return
	}
	var key [80]byte
	k := circleKey(key[:0], "geo|", q.lat, q.lng, q.m)
	h.respond(w, req, s, k, dynamic(func(b []byte) []byte {
		hp := hitPool.Get().(*[]snapshot.Hit)
		hits := s.Near(q.lat, q.lng, q.m, (*hp)[:0])
		ep := entryPool.Get().(*[]*snapshot.Entry)
		es, size := s.Gather(hits, (*ep)[:0])
		*hp = hits[:0]
		hitPool.Put(hp)
		b = slices.Grow(b, size+32)
		b = append(b, `{"count":`...)
		b = strconv.AppendInt(b, int64(len(es)), 10)
		b = append(b, `,"stores":[`...)
		for i, e := range es {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.AppendV1(b)
		}
		clear(es)
		*ep = es[:0]
		entryPool.Put(ep)
		return append(b, "]}\n"...)
	}))
}

func (h *handler) storesByAddr(w http.ResponseWriter, req *http.Request) {
	p, ok := query(w, req)
	if !ok {
		return
	}
	if p.v[pAddress] == "" {
		httpx.WriteError(w, badRequest("address is required"))
		return
	}
	// The answer echoes the address (as in 2020) and may be cached on the
	// way: a registration number typed into it is refused (DESIGN.md §6.4).
	if rrn.Contains(p.v[pAddress]) {
		httpx.WriteError(w, badRequest("address holds a registration number: search by a place name"))
		return
	}
	s := h.current(w)
	if s == nil {
		return
	}
	entries, err := s.ByAddress(p.v[pAddress])
	if err != nil {
		writeAddrErr(w, err)
		return
	}
	k := append([]byte("addr|"), p.v[pAddress]...)
	h.respond(w, req, s, k, dynamic(func(b []byte) []byte {
		b = slices.Grow(b, len(entries)*v1RecordSize)
		b = append(b, `{"address":`...)
		b = snapshot.AppendString(b, p.v[pAddress])
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, int64(len(entries)), 10)
		b = append(b, `,"stores":[`...)
		for i, e := range entries {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.AppendV1(b)
		}
		return append(b, "]}\n"...)
	}))
}

// circleKey appends prefix and a circle's centre and radius: the cache and
// validator key of a radius query.
func circleKey(k []byte, prefix string, lat, lng, m float64) []byte {
	k = append(k, prefix...)
	k = strconv.AppendFloat(k, lat, 'g', -1, 64)
	k = append(k, '|')
	k = strconv.AppendFloat(k, lng, 'g', -1, 64)
	k = append(k, '|')
	return strconv.AppendFloat(k, m, 'g', -1, 64)
}
