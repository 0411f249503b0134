package public

import (
	"compress/gzip"
	"net/http"
	"slices"
	"strconv"
	"time"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/snapshot"

	"github.com/publicmask/publicmask/internal/httpx"
)

// v2 (DESIGN.md §4.2).

func appendEnvelope(b []byte, s *snapshot.Snapshot) []byte {
	b = append(b, `{"as_of":"`...)
	b = append(b, s.AsOfString()...)
	b = append(b, `","version":`...)
	b = append(b, s.VersionString()...)
	// The epoch of the version's history (publicmask.Epochs): a client
	// resumes its stream with since=VERSION@EPOCH, so that a store
	// restored from a backup is told from the same store.
	if ep := s.Epoch(); ep != "" {
		b = append(b, `,"epoch":"`...)
		b = append(b, ep...)
		b = append(b, '"')
	}
	return b
}

// v2RecordSize is about the size of a v2 outlet object with its forecast
// and distance (see v1RecordSize).
const v2RecordSize = 400

func (h *handler) near(w http.ResponseWriter, req *http.Request) {
	q, s, ok := parseRequest(h, w, req, params.nearQuery)
	if !ok {
		return
	}
	var key [96]byte
	k := circleKey(key[:0], "near|", q.lat, q.lng, q.m)
	k = append(k, '|')
	k = strconv.AppendInt(k, int64(q.limit), 10)
	k = append(k, '|')
	k = strconv.AppendInt(k, int64(q.status), 10)
	h.respondDated(w, req, s, k, dynamic(func(b []byte) []byte {
		hp := hitPool.Get().(*[]snapshot.Hit)
		hits := s.Near(q.lat, q.lng, q.m, (*hp)[:0])
		// Filter and limit in place, then encode.
		n := 0
		for _, ht := range hits {
			if n == q.limit {
				break
			}
			if q.accepts(s.At(int(ht.Pos)).Stat()) {
				hits[n] = ht
				n++
			}
		}
		hits = hits[:n]
		b = slices.Grow(b, n*v2RecordSize)
		b = appendEnvelope(b, s)
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, `,"outlets":[`...)
		for i, ht := range hits {
			if i > 0 {
				b = append(b, ',')
			}
			b = s.At(int(ht.Pos)).AppendV2(b, ht.Dist(), true)
		}
		*hp = hits[:0]
		hitPool.Put(hp)
		return append(b, "]}\n"...)
	}))
}

func (h *handler) outlet(w http.ResponseWriter, req *http.Request) {
	s := h.current(w)
	if s == nil {
		return
	}
	code := req.PathValue("code")
	e, ok := s.Lookup(code)
	if !ok {
		httpx.WriteCode(w, publicmask.ENotFound, "no outlet with that code")
		return
	}
	// The answer is the outlet alone (no as_of): its tag is its bytes', so
	// that an app polling one outlet gets 304 while that outlet is the
	// same — not a new tag each second the node confirms its snapshot, nor
	// after every sale elsewhere (the version). A forecast swept without a
	// new version changes the bytes, hence the tag.
	buf := getBuf()
	*buf = append(e.AppendV2((*buf)[:0], 0, false), '\n')
	used := false
	h.respondTag(w, req, s, outletTag(*buf, httpx.AcceptsGzip(req)), func(gz bool) ([]byte, func(), bool) {
		used = true
		if !gz {
			return *buf, func() { putBuf(buf) }, false
		}
		z := gzipInto(*buf)
		putBuf(buf)
		return *z, func() { putBuf(z) }, false
	})
	if !used { // 304: no body written
		putBuf(buf)
	}
}

// outletTag is the validator of one outlet's answer: a hash of its bytes
// (etag's, with no version or time), per representation.
func outletTag(body []byte, gz bool) string {
	t := etag(0, "", 0, body, gz)
	return `"o` + t[2:] // "0-…" → "o-…": not a data version
}

type summaryBody struct {
	AsOf     string                         `json:"as_of"`
	Version  int64                          `json:"version"`
	National snapshot.StatCounts            `json:"national"`
	Sido     map[string]snapshot.StatCounts `json:"sido"`
	// Additive fields for /overview.
	Sigungu []snapshot.SigunguCounts `json:"sigungu"`
	Sales   salesSeries              `json:"sales_per_10min"`
}

// salesSeries is masks sold per 10 minutes of one Korean day, from
// midnight up to the bin of as_of, as this node saw them in the change
// feed since it started (started_at).
type salesSeries struct {
	Date      string `json:"date"`
	StartedAt string `json:"started_at"`
	Counts    []int  `json:"counts"`
}

func (h *handler) summary(w http.ResponseWriter, req *http.Request) {
	s := h.current(w)
	if s == nil {
		return
	}
	h.respondDated(w, req, s, []byte("summary"), cached(s.Cached, "summary", gzip.BestSpeed, false, func() []byte {
		nat, bySido := s.Summary()
		asOf := s.AsOf().In(publicmask.Seoul)
		sales := salesSeries{Date: asOf.Format("2006-01-02"), StartedAt: s.CountingSince().In(publicmask.Seoul).Format(time.RFC3339), Counts: s.SalesPer10Min(asOf)}
		return append(marshal(summaryBody{s.AsOfString(), s.Version(), nat, bySido, s.BySigungu(), sales}), '\n')
	}))
}

func (h *handler) rules(w http.ResponseWriter, req *http.Request) {
	if h.opts.Rules == nil {
		httpx.WriteCode(w, publicmask.ENotFound, "rules are not served by this node")
		return
	}
	q, s, ok := parseRequest(h, w, req, params.rulesQuery)
	if !ok {
		return
	}
	body := append(marshal(h.opts.Rules(q.date, q.birthYear)), '\n')
	// The rules do not follow the snapshot, but the validator is still per
	// snapshot version (and the body), so one ETag scheme serves every route.
	k := append([]byte("rules|"), body...)
	h.respond(w, req, s, k, func(gz bool) ([]byte, func(), bool) {
		if gz {
			return gzipBytes(body, gzip.BestSpeed), nil, false
		}
		return body, nil, false
	})
}
