// Package public serves the open data API (DESIGN.md §4.1, §4.2) from the
// in-memory snapshot: the 2020 NIA v1 endpoints, v2, the change stream and
// the OpenAPI document. It never touches the store. Admission control,
// request IDs and access logs are added by the wrapping httpapi package.
//
// Caching in front (CDN or nginx micro-cache): every JSON response carries
// Cache-Control: public, max-age=1 (Options.MaxAge), a strong ETag that
// changes with the snapshot version (v2: and its as_of) and encoding, X-Data-Version,
// X-Data-As-Of and Vary: Accept-Encoding, so a one-second shared cache
// absorbs a national refresh while the data stays within a second of the
// ledger. Example nginx configuration:
//
//	proxy_cache_path /var/cache/nginx/pm keys_zone=pm:10m max_size=256m inactive=10s;
//	location ~ ^/(corona19-masks/v1|api/v2/(outlets|summary|rules|places)) {
//	    proxy_pass http://publicmask;
//	    proxy_cache pm;
//	    proxy_cache_lock on;             # one request per key goes upstream
//	    proxy_cache_use_stale updating;  # others get the previous second
//	    proxy_cache_revalidate on;       # If-None-Match upstream → 304
//	    proxy_cache_key $scheme$host$request_uri$http_accept_encoding;
//	}
//	location /api/v2/stream {            # SSE: never cached or buffered
//	    proxy_pass http://publicmask;
//	    proxy_buffering off;
//	    proxy_read_timeout 1h;
//	}
package public

import (
	"compress/gzip"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/snapshot"

	"github.com/publicmask/publicmask/internal/httpx"
)

// Options configure the handler. The zero value works.
type Options struct {
	// MaxAge is the max-age of Cache-Control in seconds: 0 means the default
	// of 1 (the data must be fresh within a second); negative sends 0.
	MaxAge int
	// Heartbeat is the interval of the SSE comment heartbeat (default 15s).
	Heartbeat time.Duration
	// StreamBuffer is how many change batches an SSE client may lag behind
	// before it is dropped (default 64).
	StreamBuffer int
	// StreamWriteTimeout bounds one write to an SSE client (default 10s), so
	// a client that stopped reading is dropped rather than held forever.
	StreamWriteTimeout time.Duration
	// StaleAfter is the snapshot age (real time since the node last knew it
	// current, DESIGN.md §6.13) beyond which a stream's `freshness` event
	// says stale (default 10s: the PublicmaskSnapshotStale alert's).
	StaleAfter time.Duration
	// ResumeGrace is how long a stream resumed from an id above this node's
	// version waits for the node to reach it (another node behind the same
	// balancer may be a poll ahead) before it sends a `reset` (default 1s).
	ResumeGrace time.Duration
	// Rules answers /api/v2/rules (e.g. policy.Holder.Load().Rules, whose
	// DayRules already has the contract's JSON tags); birthYear 0 means not
	// asked. Nil: the route answers 404.
	Rules func(date time.Time, birthYear int) any
	// OpenAPI may add to the served OpenAPI document (the outlet and admin
	// APIs add their paths); it runs once, in NewHandler.
	OpenAPI func(doc map[string]any)
	Logger  *slog.Logger
}

type handler struct {
	r       *snapshot.Refresher
	opts    Options
	mux     *http.ServeMux
	cc      []string // Cache-Control value, shared by every response
	openapi []byte
	openGz  []byte
	openTag [2]string // ETag of openapi, openGz: a hash of the document
	log     *slog.Logger
	hdr     atomic.Pointer[snapHeader]
}

// Path prefixes served by the handler; the lead mounts the handler on each.
const (
	PrefixV1 = "/corona19-masks/v1/"
	PrefixV2 = "/api/v2/"
)

// NewHandler returns the public API handler. Routes:
//
//	GET /corona19-masks/v1/{stores,sales,storesByGeo,storesByAddr}/json
//	GET /api/v2/outlets/near, /api/v2/outlets/{code}, /api/v2/stream,
//	    /api/v2/summary, /api/v2/rules, /api/v2/places
//	GET /openapi.json
//
// Anything else it is asked for is a JSON 404 not_found.
func NewHandler(r *snapshot.Refresher, opts Options) http.Handler {
	if opts.MaxAge == 0 {
		opts.MaxAge = 1
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.StreamBuffer <= 0 {
		opts.StreamBuffer = 64
	}
	if opts.StreamWriteTimeout <= 0 {
		opts.StreamWriteTimeout = 10 * time.Second
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = 10 * time.Second
	}
	if opts.ResumeGrace <= 0 {
		opts.ResumeGrace = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{r: r, opts: opts, mux: http.NewServeMux(), log: opts.Logger}
	h.cc = []string{"public, max-age=" + strconv.Itoa(max(opts.MaxAge, 0))}
	h.openapi = openAPIDocument(opts.OpenAPI)
	h.openGz = gzipBytes(h.openapi, gzip.BestCompression)
	// The document does not follow the snapshot: its validator is its hash.
	h.openTag = [2]string{etag(0, "", 0, h.openapi, false), etag(0, "", 0, h.openapi, true)}

	m := h.mux
	// Each v1 route also answers with a trailing slash: a widely copied
	// 2020 Android course wrote it that way, and its apps crash on a 404.
	// "/{$}" is the slash alone: a pattern ending in "/" would be the whole
	// subtree in ServeMux (…/stores/json/anything answered 200).
	for _, sfx := range []string{"", "/{$}"} {
		m.HandleFunc("GET /corona19-masks/v1/stores/json"+sfx, h.stores)
		m.HandleFunc("GET /corona19-masks/v1/sales/json"+sfx, h.sales)
		m.HandleFunc("GET /corona19-masks/v1/storesByGeo/json"+sfx, h.storesByGeo)
		m.HandleFunc("GET /corona19-masks/v1/storesByAddr/json"+sfx, h.storesByAddr)
	}
	m.HandleFunc("GET /api/v2/outlets/near", h.near)
	m.HandleFunc("GET /api/v2/outlets/{code}", h.outlet)
	m.HandleFunc("GET /api/v2/stream", h.stream)
	m.HandleFunc("GET /api/v2/summary", h.summary)
	m.HandleFunc("GET /api/v2/rules", h.rules)
	m.HandleFunc("GET /api/v2/places", h.places)
	m.HandleFunc("GET /openapi.json", h.openAPI)
	m.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		httpx.WriteCode(w, publicmask.ENotFound, "no such endpoint")
	})
	return h.mux
}

// Header values shared by all responses (never mutated in place).
var (
	ctJSON    = []string{"application/json; charset=utf-8"}
	ctSSE     = []string{"text/event-stream; charset=utf-8"}
	ccNoCache = []string{"no-cache"}
	varyAE    = []string{"Accept-Encoding"}
	ceGzip    = []string{"gzip"}
)

// current returns the snapshot, or answers 503 while none is built yet.
func (h *handler) current(w http.ResponseWriter) *snapshot.Snapshot {
	s := h.r.Current()
	if s == nil {
		httpx.WriteCode(w, publicmask.EStoreUnavailable, "public data is loading")
	}
	return s
}

// query parses the request's parameters, answering 400 on error.
func query(w http.ResponseWriter, req *http.Request) (params, bool) {
	p, err := parseParams(req.URL.RawQuery)
	if err != nil {
		httpx.WriteError(w, err)
		return p, false
	}
	return p, true
}

// etag is the validator of a response: the snapshot version, a hash of the
// normalised query (the route and its parsed parameters) and the encoding.
// asOf (Unix nanoseconds, 0 for none) is set for bodies that change without
// a new version: v2 bodies carry as_of and forecasts, and the refresher
// re-dates a confirmed snapshot and sweeps idle forecasts (sellout_at turns
// null) under the same version, always with a new as_of. A strong ETag must
// change whenever the bytes do. The epoch of the version's history goes
// into the hash: a store restored from a backup reuses versions, and a
// client revalidating a body of the lost history must not get a 304.
func etag(version int64, epoch string, asOf int64, key []byte, gz bool) string {
	// FNV-1a, inline: hash/fnv would allocate per request.
	f := uint64(14695981039346656037)
	for _, c := range key {
		f ^= uint64(c)
		f *= 1099511628211
	}
	for i := range len(epoch) {
		f ^= uint64(epoch[i])
		f *= 1099511628211
	}
	b := make([]byte, 0, 48)
	b = append(b, '"')
	b = strconv.AppendInt(b, version, 10)
	if asOf != 0 {
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(asOf), 36)
	}
	b = append(b, '-')
	b = strconv.AppendUint(b, f, 36)
	if gz {
		b = append(b, "-gz"...)
	}
	b = append(b, '"')
	return string(b)
}

// bodyFunc produces a response body: cached bytes, or a pooled buffer (release
// is then called after writing). shared is true for bytes that live as long
// as the outlet registry whoever writes them (they cost no memory per
// response being written); bodies cached on one snapshot are not shared in
// that sense: a slow reader keeps them alive after the snapshot is gone.
type bodyFunc func(gz bool) (b []byte, release func(), shared bool)

// respond writes the common headers, answers 304 when the client has the
// version, and otherwise writes the body from body(gz). For bodies that
// depend only on the snapshot version (v1, places, rules).
func (h *handler) respond(w http.ResponseWriter, req *http.Request, s *snapshot.Snapshot, key []byte, body bodyFunc) {
	h.respondTagged(w, req, s, 0, key, body)
}

// respondDated is respond for bodies that also follow the snapshot's as_of
// (v2 near and summary: as_of, forecasts), whose validator changes with it.
func (h *handler) respondDated(w http.ResponseWriter, req *http.Request, s *snapshot.Snapshot, key []byte, body bodyFunc) {
	h.respondTagged(w, req, s, s.AsOf().UnixNano(), key, body)
}

func (h *handler) respondTagged(w http.ResponseWriter, req *http.Request, s *snapshot.Snapshot, asOf int64, key []byte, body bodyFunc) {
	h.respondTag(w, req, s, etag(s.Version(), s.Epoch(), asOf, key, httpx.AcceptsGzip(req)), body)
}

// respondTag is respond with the validator tag (of the representation the
// request accepts) given.
func (h *handler) respondTag(w http.ResponseWriter, req *http.Request, s *snapshot.Snapshot, tag string, body bodyFunc) {
	gz := httpx.AcceptsGzip(req)
	hd := w.Header()
	hd["Content-Type"] = ctJSON
	hd["Cache-Control"] = h.cc
	hd["Vary"] = varyAE
	hd["Etag"] = []string{tag}
	hd["X-Data-Version"], hd["X-Data-As-Of"] = h.snapHeaders(s)
	if httpx.NotModified(req, tag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	b, release, shared := body(gz)
	if gz {
		hd["Content-Encoding"] = ceGzip
	}
	hd["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodHead {
		if release != nil {
			release()
		}
		return
	}
	// Behind httpapi the body is handed over without a copy and written
	// after the admission slot is released.
	if bw, ok := w.(bodyWriter); ok {
		bw.WriteBody(b, !shared, release)
		return
	}
	w.Write(b)
	if release != nil {
		release()
	}
}

// bodyWriter is httpapi.BodyWriter (not imported: httpapi mounts this
// package, not the other way round).
type bodyWriter interface {
	WriteBody(b []byte, owned bool, done func())
}

// snapHeader holds the header values of one snapshot, made once per
// version rather than per request. It keeps the snapshot's version and
// as_of, not the snapshot: a handler that has seen no request since must
// not hold every entry of an old version alive (a bulk delivery replaces
// them all).
type snapHeader struct {
	version int64
	asOf    int64 // unix ns
	vs      []string
	as      []string
}

func (h *handler) snapHeaders(s *snapshot.Snapshot) (version, asOf []string) {
	v, at := s.Version(), s.AsOf().UnixNano()
	if sh := h.hdr.Load(); sh != nil && sh.version == v && sh.asOf == at {
		return sh.vs, sh.as
	}
	sh := &snapHeader{v, at, []string{s.VersionString()}, []string{s.AsOfString()}}
	h.hdr.Store(sh)
	return sh.vs, sh.as
}

// Pools: per-request JSON is appended into a pooled buffer and, when the
// client asks for gzip, compressed by a pooled writer into another.
var (
	bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}
	gzPool  = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return w }}
)

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 1<<20 { // let rare huge buffers go
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

type appendWriter struct{ b *[]byte }

func (a appendWriter) Write(p []byte) (int, error) { *a.b = append(*a.b, p...); return len(p), nil }

// gzipInto compresses src into a pooled buffer.
func gzipInto(src []byte) *[]byte {
	out := getBuf()
	zw := gzPool.Get().(*gzip.Writer)
	zw.Reset(appendWriter{out})
	zw.Write(src)
	zw.Close()
	gzPool.Put(zw)
	return out
}

// gzipBytes compresses a body that is cached, at level.
func gzipBytes(src []byte, level int) []byte {
	var out []byte
	zw, _ := gzip.NewWriterLevel(appendWriter{&out}, level)
	zw.Write(src)
	zw.Close()
	return out
}

// dynamic serves a body built per request into a pooled buffer.
func dynamic(build func(b []byte) []byte) bodyFunc {
	return func(gz bool) ([]byte, func(), bool) {
		buf := getBuf()
		*buf = build(*buf)
		if !gz {
			return *buf, func() { putBuf(buf) }, false
		}
		z := gzipInto(*buf)
		putBuf(buf)
		return *z, func() { putBuf(z) }, false
	}
}

// cached serves a body cached on the snapshot (with its gzip variant, at
// level: best for registry-scoped pages that live long, fastest for pages
// that a sale replaces); shared says the cache lives with the registry.
func cached(get func(key string, build func() []byte) []byte, key string, level int, shared bool, build func() []byte) bodyFunc {
	return func(gz bool) ([]byte, func(), bool) {
		if !gz {
			return get(key, build), nil, shared
		}
		return get(key+"|gz", func() []byte { return gzipBytes(get(key, build), level) }), nil, shared
	}
}

func (h *handler) openAPI(w http.ResponseWriter, req *http.Request) {
	gz := httpx.AcceptsGzip(req)
	hd := w.Header()
	hd["Content-Type"] = ctJSON
	hd["Cache-Control"] = h.cc
	hd["Vary"] = varyAE
	b, tag := h.openapi, h.openTag[0]
	if gz {
		b, tag = h.openGz, h.openTag[1]
	}
	hd["Etag"] = []string{tag}
	// Every public response carries the data headers (§4.1); the document is
	// served even before the first snapshot, then without them.
	if s := h.r.Current(); s != nil {
		hd["X-Data-Version"], hd["X-Data-As-Of"] = h.snapHeaders(s)
	}
	if httpx.NotModified(req, tag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if gz {
		hd["Content-Encoding"] = ceGzip
	}
	hd["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.Write(b)
}

// marshal is encoding/json for the rarely requested bodies (summary, rules).
func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own types are marshalled
	}
	return b
}
