package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/httpx"
)

// The error table, body and writer are httpx's, shared with public and web.
const codeMethodNotAllowed = httpx.CodeMethodNotAllowed

type (
	errorBody   = httpx.Body
	errorDetail = httpx.Detail
)

func classify(err error) (code, msg string) { return httpx.Classify(err) }

// writeError answers with the JSON error body. Internal errors are logged
// with their detail and answered without it.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	b := httpx.BodyOf(err)
	if b.Error.Code == publicmask.EInternal {
		lvl := slog.LevelError
		if errors.Is(err, context.Canceled) {
			lvl = slog.LevelInfo // the client went away; nothing is broken
		}
		s.logger(r).Log(r.Context(), lvl, "request failed", "err", err.Error())
	}
	writeBody(w, r, b)
}

func writeErrorCode(w http.ResponseWriter, r *http.Request, code, msg string) {
	writeBody(w, r, errorBody{Error: errorDetail{Code: code, Message: msg}})
}

// writeBody writes an error body and notes its code for the access log.
func writeBody(w http.ResponseWriter, r *http.Request, b errorBody) {
	if ri := infoOf(r); ri != nil {
		ri.errCode = b.Error.Code
	}
	httpx.Write(w, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpx.WriteJSON(w, status, v) }

// reply answers a handler's last call: its error if it failed, else v
// with status.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, status, v)
}
