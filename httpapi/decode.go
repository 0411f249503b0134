package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/publicmask/publicmask"
)

func badRequest(format string, args ...any) error {
	return publicmask.Errorf(publicmask.EBadRequest, format, args...)
}

// decodeJSON reads exactly one JSON value into v, refusing unknown fields and
// bodies over limit. The Content-Type is not enforced: `curl -d` sends
// form-urlencoded by default, and bearer tokens already rule out cross-site
// form posts. Error messages name fields but never echo values (a value
// may be a registration number).
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	// A body held in memory (readBody, under the route's own limit: an
	// admin route's is the import's) and over this one is 413 whatever it
	// holds: the decoder would call 2 MB of garbage malformed (400) first.
	if hb, ok := r.Body.(*heldBody); ok && int64(len(hb.b)) > limit {
		return errBodyTooLarge(limit)
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case err == io.EOF:
		return nil
	case err != nil && !isSyntax(err):
		return jsonError(err) // e.g. the limit hit while reading the rest
	}
	return badRequest("body must contain a single JSON value")
}

// decodeBody is decodeJSON for a handler: on failure it has written the
// error and the handler only returns.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	if err := decodeJSON(w, r, limit, v); err != nil {
		s.writeError(w, r, err)
		return false
	}
	return true
}

// errBodyTooLarge is the 413 of a body over limit, whether readBody saw it
// or a handler's own reader did.
func errBodyTooLarge(limit int64) error {
	return publicmask.Errorf(publicmask.EBodyTooLarge, "request body larger than %d bytes", limit)
}

func isSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF)
}

func jsonError(err error) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return errBodyTooLarge(mbe.Limit)
	case err == io.EOF:
		return badRequest("request body is empty; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed JSON: unexpected end of body")
	case errors.As(err, &se):
		return badRequest("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		// te.Value is "number 8303151234567" for an ID sent as a number
		// into an int field: keep only its JSON type.
		got, _, _ := strings.Cut(te.Value, " ")
		if te.Field == "" {
			return badRequest("body must be a JSON %s, not %s", jsonKind(te.Type), got)
		}
		return badRequest("%s: wrong type (got %s, want %s)", te.Field, got, jsonKind(te.Type))
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name := strings.Trim(f, `"`)
		if safeName(name) {
			return badRequest("unknown field: %s", name)
		}
		return badRequest("unknown field")
	}
	return badRequest("malformed JSON")
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Float64:
		return "integer"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	}
	return t.Kind().String()
}

// safeName reports whether a client-sent field name is harmless to echo.
func safeName(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	digits := 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '.', c == '[', c == ']':
		default:
			return false
		}
	}
	return digits < 6 // never a birth date or registration number
}

func fieldErr(field, format string, args ...any) error {
	return badRequest("%s: %s", field, fmt.Sprintf(format, args...))
}
