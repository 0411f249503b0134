// Package httpx holds the HTTP conventions that httpapi, public and web
// share, written once: the contract's error→status table and error body
// (DESIGN.md §4), the Accept-Encoding test for gzip and the If-None-Match
// test for conditional GETs.
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/rrn"
)

// CodeMethodNotAllowed is the code of a 405: the contract lists no code for
// it, and "bad_request" would hide that the path itself exists.
const CodeMethodNotAllowed = "method_not_allowed"

// statuses is the contract's error→status table (DESIGN.md §4).
var statuses = map[string]int{
	publicmask.EBadRequest:       http.StatusBadRequest,
	publicmask.EInvalidID:        http.StatusBadRequest,
	publicmask.EAmbiguousAddress: http.StatusBadRequest,
	publicmask.EUnauthorized:     http.StatusUnauthorized,
	publicmask.EForbidden:        http.StatusForbidden,
	publicmask.ENotFound:         http.StatusNotFound,
	CodeMethodNotAllowed:         http.StatusMethodNotAllowed,
	publicmask.ETxnConflict:      http.StatusConflict,
	publicmask.EBodyTooLarge:     http.StatusRequestEntityTooLarge,
	publicmask.ENotEligibleToday: http.StatusUnprocessableEntity,
	publicmask.EQuotaExceeded:    http.StatusUnprocessableEntity,
	publicmask.EOutOfStock:       http.StatusUnprocessableEntity,
	publicmask.ESalesSuspended:   http.StatusUnprocessableEntity,
	publicmask.ESalesClosed:      http.StatusUnprocessableEntity,
	publicmask.EOutletClosed:     http.StatusUnprocessableEntity,
	publicmask.EProxyNotAllowed:  http.StatusUnprocessableEntity,
	publicmask.ELateSaleTooOld:   http.StatusUnprocessableEntity,
	publicmask.ERateLimited:      http.StatusTooManyRequests,
	publicmask.EOverloaded:       http.StatusServiceUnavailable,
	publicmask.EStoreUnavailable: http.StatusServiceUnavailable,
}

// Status maps a contract error code to its HTTP status. Unknown codes are
// internal errors: a code the HTTP layer does not know must not reach a
// client as if it were a 4xx.
func Status(code string) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Classify turns any error into a contract code and a message safe to show.
func Classify(err error) (code, msg string) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return publicmask.EBodyTooLarge, "request body larger than the limit"
	case errors.Is(err, context.DeadlineExceeded):
		// The request ran out of time waiting for the store or a batch.
		return publicmask.EOverloaded, "the server is busy, retry shortly"
	}
	code = publicmask.ErrorCode(err)
	if Status(code) == http.StatusInternalServerError {
		return publicmask.EInternal, "internal error"
	}
	// A message may quote what the client sent (an address it typed): a
	// registration number in it is masked, as in every log.
	return code, rrn.Mask(publicmask.ErrorMessage(err))
}

// Body is the contract's error body: {"error":{"code","message"}}, with
// what some answers add beside it.
type Body struct {
	Error Detail `json:"error"`
	// Candidates: the places an ambiguous address may mean (storesByAddr).
	Candidates []string `json:"candidates,omitempty"`
}

// Detail is the "error" object.
type Detail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Persons: on a refused sale, who was refused, why, and when each may
	// buy next (the check's verdicts).
	Persons []publicmask.PersonVerdict `json:"persons,omitempty"`
}

// BodyOf is the body answering err: its code and message, and the persons'
// verdicts of a refused sale.
func BodyOf(err error) Body {
	code, msg := Classify(err)
	d := Detail{Code: code, Message: msg}
	var pe *publicmask.Error
	if errors.As(err, &pe) && code == pe.Code {
		d.Persons = pe.Persons
	}
	return Body{Error: d}
}

// WriteError answers err with its status and body.
func WriteError(w http.ResponseWriter, err error) {
	Write(w, BodyOf(err))
}

// WriteCode answers with the error body of code and msg.
func WriteCode(w http.ResponseWriter, code, msg string) {
	Write(w, Body{Error: Detail{Code: code, Message: msg}})
}

// Write answers with b and the status of its code. Errors are never
// cached; 503 and 429 say when to retry (a Retry-After already set is
// kept); 401 names the scheme.
func Write(w http.ResponseWriter, b Body) {
	status := Status(b.Error.Code)
	h := w.Header()
	switch status {
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		if h.Get("Retry-After") == "" {
			h.Set("Retry-After", "1")
		}
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="publicmask"`)
	}
	h.Set("Cache-Control", "no-store")
	if out, ok := appendBody(make([]byte, 0, 256), b); ok {
		WriteJSONBytes(w, status, out)
		return
	}
	WriteJSON(w, status, b)
}

// appendBody appends b as json.Marshal encodes it, when every string in it
// is plain (publicmask.JSONPlain) and it names no candidates; false otherwise, and
// the caller marshals. A refused sale's body (about one sale in six in a
// capacity rush) went through encoding/json's reflection.
func appendBody(dst []byte, b Body) ([]byte, bool) {
	if len(b.Candidates) > 0 {
		return dst, false
	}
	d := &b.Error
	if !publicmask.JSONPlain(d.Code) || !publicmask.JSONPlain(d.Message) {
		return dst, false
	}
	dst = append(dst, `{"error":{"code":"`...)
	dst = append(dst, d.Code...)
	dst = append(dst, `","message":"`...)
	dst = append(dst, d.Message...)
	dst = append(dst, '"')
	if len(d.Persons) > 0 {
		dst = append(dst, `,"persons":[`...)
		for i := range d.Persons {
			p := &d.Persons[i]
			if !publicmask.JSONPlain(p.Role) || p.Reason != nil && !publicmask.JSONPlain(*p.Reason) || p.NextDate != nil && !publicmask.JSONPlain(*p.NextDate) {
				return dst, false
			}
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"role":"`...)
			dst = append(dst, p.Role...)
			dst = append(dst, `","eligible":`...)
			dst = strconv.AppendBool(dst, p.Eligible)
			dst = append(dst, `,"reason":`...)
			dst = appendNullString(dst, p.Reason)
			dst = append(dst, `,"remaining_this_week":`...)
			if p.RemainingThisWeek == nil {
				dst = append(dst, "null"...)
			} else {
				dst = strconv.AppendInt(dst, int64(*p.RemainingThisWeek), 10)
			}
			dst = append(dst, `,"next_date":`...)
			dst = appendNullString(dst, p.NextDate)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, "}}"...), true
}

func appendNullString(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = append(dst, *s...)
	return append(dst, '"')
}

// WriteJSON encodes v before writing the header, so that an encoding error
// still becomes a clean 500. Cache-Control defaults to no-store (outlet,
// admin and error answers are private).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	WriteJSONBytes(w, status, b)
}

// WriteJSONBytes writes b, compact JSON as json.Marshal makes it, as
// WriteJSON writes a value (one newline after it; b is not modified).
func WriteJSONBytes(w http.ResponseWriter, status int, b []byte) {
	SetJSONHeaders(w.Header(), len(b)+1)
	w.WriteHeader(status)
	w.Write(b)
	w.Write(newline)
}

// SetJSONHeaders sets the headers WriteJSONBytes sends with a body of n
// bytes (its newline included), for a handler that hands the body over
// another way.
func SetJSONHeaders(h http.Header, n int) {
	// The keys are canonical: the map is used directly (Get and Set
	// canonicalise theirs first).
	h["Content-Type"] = jsonType
	h["X-Content-Type-Options"] = noSniff
	if vs := h["Cache-Control"]; len(vs) == 0 || vs[0] == "" {
		h["Cache-Control"] = noStore
	}
	h["Content-Length"] = LengthValue(n)
}

// LengthValue is a Content-Length header's value for n bytes,
// []string{strconv.Itoa(n)}; for the lengths of most answers it is made
// once and shared (a full slice: an Add elsewhere copies it).
func LengthValue(n int) []string {
	if n < 0 || n >= len(lengthValues) {
		return []string{strconv.Itoa(n)}
	}
	if p := lengthValues[n].Load(); p != nil {
		return *p
	}
	v := []string{strconv.Itoa(n)}[:1:1]
	lengthValues[n].Store(&v)
	return v
}

// lengthValues are LengthValue's shared values, made at first use.
var lengthValues [4096]atomic.Pointer[[]string]

var newline = []byte{'\n'}

// Header values every JSON answer sets, shared rather than allocated per
// answer (keys in canonical form; a full slice, so that an Add elsewhere
// copies it instead of writing into it).
var (
	jsonType = []string{"application/json; charset=utf-8"}[:1:1]
	noSniff  = []string{"nosniff"}[:1:1]
	noStore  = []string{"no-store"}[:1:1]
)

// AcceptsGzip reports whether the request's Accept-Encoding allows gzip
// (RFC 9110 §12.5.3): "gzip" or "x-gzip" with a non-zero weight, else "*"
// with one; names and parameters are case-insensitive, and a weight of 0
// (0, 0.0, 0.000) refuses. Allocation-free: it runs on every public read.
func AcceptsGzip(r *http.Request) bool {
	star := false
	for _, v := range r.Header["Accept-Encoding"] {
		for part := range strings.SplitSeq(v, ",") {
			name, params, _ := strings.Cut(part, ";")
			name = strings.TrimSpace(name)
			switch {
			case strings.EqualFold(name, "gzip"), strings.EqualFold(name, "x-gzip"):
				return weight(params) > 0
			case name == "*":
				star = weight(params) > 0
			}
		}
	}
	return star
}

// weight is the q parameter among params (1 when absent, 0 when malformed).
func weight(params string) float64 {
	for p := range strings.SplitSeq(params, ";") {
		k, v, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		v = strings.TrimSpace(v)
		// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
		if len(v) == 0 || len(v) > 5 || (v[0] != '0' && v[0] != '1') || (len(v) > 1 && v[1] != '.') {
			return 0
		}
		q, err := strconv.ParseFloat(v, 64)
		if err != nil || q > 1 {
			return 0
		}
		return q
	}
	return 1
}

// NotModified reports whether the request's If-None-Match names etag or
// "*" (weak comparison, as RFC 9110 §13.1.2 prescribes for If-None-Match).
func NotModified(r *http.Request, etag string) bool {
	etag = strings.TrimPrefix(etag, "W/")
	for _, v := range r.Header["If-None-Match"] {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			if part == "*" || strings.TrimPrefix(part, "W/") == etag {
				return true
			}
		}
	}
	return false
}

// WantsPage reports whether r is a browser's navigation to a page: a GET
// or HEAD that asks for HTML first (browsers send "text/html,…" when they
// follow a link or a typed address), outside the APIs' paths, whose clients
// get the contract's JSON errors whatever they accept.
func WantsPage(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := r.URL.Path
	if strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/corona19-masks/") {
		return false
	}
	first, _, _ := strings.Cut(r.Header.Get("Accept"), ",")
	first, _, _ = strings.Cut(first, ";")
	return strings.EqualFold(strings.TrimSpace(first), "text/html")
}
