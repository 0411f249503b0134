package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/publicmask/publicmask"
)

// codeMethodNotAllowed is the code of a 405: the contract lists no code for
// it, and "bad_request" would hide that the path itself exists.
const codeMethodNotAllowed = "method_not_allowed"

// statusOf maps a contract error code to its HTTP status (DESIGN.md §4).
// Unknown codes are internal errors: a code the HTTP layer does not know
// must not reach a client as if it were a 4xx.
func statusOf(code string) int {
	switch code {
	case publicmask.EBadRequest, publicmask.EInvalidID, publicmask.EAmbiguousAddress:
		return http.StatusBadRequest
	case publicmask.EUnauthorized:
		return http.StatusUnauthorized
	case publicmask.EForbidden:
		return http.StatusForbidden
	case publicmask.ENotFound:
		return http.StatusNotFound
	case codeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case publicmask.ETxnConflict:
		return http.StatusConflict
	case publicmask.EBodyTooLarge:
		return http.StatusRequestEntityTooLarge
	case publicmask.ENotEligibleToday, publicmask.EQuotaExceeded, publicmask.EOutOfStock,
		publicmask.ESalesSuspended, publicmask.ESalesClosed, publicmask.EOutletClosed,
		publicmask.EProxyNotAllowed, publicmask.ELateSaleTooOld:
		return http.StatusUnprocessableEntity
	case publicmask.ERateLimited:
		return http.StatusTooManyRequests
	case publicmask.EOverloaded, publicmask.EStoreUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Persons: on a refused sale, who was refused, why, and when each may
	// buy next (the check's verdicts).
	Persons []publicmask.PersonVerdict `json:"persons,omitempty"`
}

// classify turns any error into a contract code and a message safe to show.
func classify(err error) (code, msg string) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return publicmask.EBodyTooLarge, "request body larger than the limit"
	case errors.Is(err, context.DeadlineExceeded):
		// The request ran out of time waiting for the store or a batch.
		return publicmask.EOverloaded, "the server is busy, retry shortly"
	}
	code = publicmask.ErrorCode(err)
	if statusOf(code) == http.StatusInternalServerError {
		return publicmask.EInternal, "internal error"
	}
	return code, publicmask.ErrorMessage(err)
}

// writeError answers with the JSON error body. Internal errors are logged
// with their detail and answered without it.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := classify(err)
	if code == publicmask.EInternal {
		lvl := slog.LevelError
		if errors.Is(err, context.Canceled) {
			lvl = slog.LevelInfo // the client went away; nothing is broken
		}
		s.logger(r).Log(r.Context(), lvl, "request failed", "err", err.Error())
	}
	var pe *publicmask.Error
	if errors.As(err, &pe) && len(pe.Persons) > 0 && code == pe.Code {
		writeErrorDetail(w, r, errorDetail{Code: code, Message: msg, Persons: pe.Persons})
		return
	}
	writeErrorCode(w, r, code, msg)
}

func writeErrorCode(w http.ResponseWriter, r *http.Request, code, msg string) {
	writeErrorDetail(w, r, errorDetail{Code: code, Message: msg})
}

func writeErrorDetail(w http.ResponseWriter, r *http.Request, d errorDetail) {
	status := statusOf(d.Code)
	h := w.Header()
	switch status {
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		if h.Get("Retry-After") == "" {
			h.Set("Retry-After", "1")
		}
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="publicmask"`)
	}
	if ri := infoOf(r); ri != nil {
		ri.errCode = d.Code
	}
	writeJSON(w, status, errorBody{d})
}

// writeJSON encodes v before writing the header, so that an encoding error
// still becomes a clean 500.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store") // outlet and admin answers are private
	}
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
