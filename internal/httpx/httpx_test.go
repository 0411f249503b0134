package httpx

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/publicmask/publicmask"
)

func TestStatus(t *testing.T) {
	for code, want := range map[string]int{
		publicmask.EBadRequest: 400, publicmask.EInvalidID: 400, publicmask.EAmbiguousAddress: 400,
		publicmask.EUnauthorized: 401, publicmask.EForbidden: 403, publicmask.ENotFound: 404,
		CodeMethodNotAllowed: 405, publicmask.ETxnConflict: 409, publicmask.EBodyTooLarge: 413,
		publicmask.ENotEligibleToday: 422, publicmask.EQuotaExceeded: 422, publicmask.EOutOfStock: 422,
		publicmask.ESalesSuspended: 422, publicmask.ESalesClosed: 422, publicmask.EOutletClosed: 422,
		publicmask.EProxyNotAllowed: 422, publicmask.ELateSaleTooOld: 422, publicmask.ERateLimited: 429,
		publicmask.EOverloaded: 503, publicmask.EStoreUnavailable: 503,
		publicmask.EInternal: 500, "something_new": 500, "": 500,
	} {
		if got := Status(code); got != want {
			t.Errorf("Status(%q) = %d, want %d", code, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err       error
		code, msg string
	}{
		{publicmask.Errorf(publicmask.EQuotaExceeded, "no more this week"), publicmask.EQuotaExceeded, "no more this week"},
		{fmt.Errorf("wrapped: %w", publicmask.Errorf(publicmask.ENotFound, "no outlet")), publicmask.ENotFound, "no outlet"},
		{publicmask.Errorf("made_up", "secret detail"), publicmask.EInternal, "internal error"},
		{fmt.Errorf("disk on fire"), publicmask.EInternal, "internal error"},
		{&http.MaxBytesError{Limit: 10}, publicmask.EBodyTooLarge, "request body larger than the limit"},
		{fmt.Errorf("batch: %w", context.DeadlineExceeded), publicmask.EOverloaded, "the server is busy, retry shortly"},
	} {
		if code, msg := Classify(tc.err); code != tc.code || msg != tc.msg {
			t.Errorf("Classify(%v) = %q, %q; want %q, %q", tc.err, code, msg, tc.code, tc.msg)
		}
	}
}

func TestWrite(t *testing.T) {
	reason := publicmask.EQuotaExceeded
	refused := &publicmask.Error{Code: reason, Message: "no", Persons: []publicmask.PersonVerdict{{Role: "buyer", Reason: &reason}}}
	for _, tc := range []struct {
		name    string
		write   func(w http.ResponseWriter)
		status  int
		headers map[string]string
		body    string
	}{
		{"not found", func(w http.ResponseWriter) { WriteCode(w, publicmask.ENotFound, "no such page") }, 404,
			map[string]string{"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Retry-After": "", "Content-Length": "56"},
			`{"error":{"code":"not_found","message":"no such page"}}` + "\n"},
		{"overloaded retries after a second", func(w http.ResponseWriter) { WriteCode(w, publicmask.EOverloaded, "busy") }, 503,
			map[string]string{"Retry-After": "1"}, `{"error":{"code":"overloaded","message":"busy"}}` + "\n"},
		{"a Retry-After already set is kept", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "5")
			WriteCode(w, publicmask.ERateLimited, "slow down")
		}, 429, map[string]string{"Retry-After": "5"}, `{"error":{"code":"rate_limited","message":"slow down"}}` + "\n"},
		{"unauthorized names the scheme", func(w http.ResponseWriter) { WriteCode(w, publicmask.EUnauthorized, "token") }, 401,
			map[string]string{"WWW-Authenticate": `Bearer realm="publicmask"`}, `{"error":{"code":"unauthorized","message":"token"}}` + "\n"},
		{"errors are not cached whatever was set", func(w http.ResponseWriter) {
			w.Header().Set("Cache-Control", "public, max-age=60")
			WriteCode(w, publicmask.EBadRequest, "<lat>")
		}, 400, map[string]string{"Cache-Control": "no-store"}, `{"error":{"code":"bad_request","message":"\u003clat\u003e"}}` + "\n"},
		{"refused sale carries the persons", func(w http.ResponseWriter) { WriteError(w, refused) }, 422, nil,
			`{"error":{"code":"quota_exceeded","message":"no","persons":[{"role":"buyer","eligible":false,"reason":"quota_exceeded","remaining_this_week":null,"next_date":null}]}}` + "\n"},
		{"internal detail hidden", func(w http.ResponseWriter) { WriteError(w, fmt.Errorf("pq: password is hunter2")) }, 500, nil,
			`{"error":{"code":"internal","message":"internal error"}}` + "\n"},
		{"candidates beside the error", func(w http.ResponseWriter) {
			Write(w, Body{Error: Detail{Code: publicmask.EAmbiguousAddress, Message: "which?"}, Candidates: []string{"서울특별시 중구", "부산광역시 중구"}})
		}, 400, nil, `{"error":{"code":"ambiguous_address","message":"which?"},"candidates":["서울특별시 중구","부산광역시 중구"]}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tc.write(rec)
			if rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
			for k, v := range tc.headers {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if rec.Body.String() != tc.body {
				t.Errorf("body %s, want %s", rec.Body, tc.body)
			}
			var b Body
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error.Code == "" {
				t.Errorf("not an error body: %v", err)
			}
		})
	}
}

func TestAcceptsGzip(t *testing.T) {
	for _, tc := range []struct {
		header []string
		want   bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"gzip"}, true},
		{[]string{"GZip"}, true},
		{[]string{"gzip, deflate, br"}, true},
		{[]string{"br", "gzip"}, true}, // several header lines
		{[]string{"deflate, br"}, false},
		{[]string{"x-gzip"}, true},
		{[]string{"gzip;q=0"}, false},
		{[]string{"gzip; q=0.0"}, false},
		{[]string{"gzip;q=0.000"}, false},
		{[]string{"gzip;Q=0"}, false},
		{[]string{"gzip ; q = 0"}, false},
		{[]string{"gzip;q=0.001"}, true},
		{[]string{"gzip;q=0.5"}, true},
		{[]string{"gzip;q=1"}, true},
		{[]string{"gzip;q=1.000"}, true},
		{[]string{"gzip;q=2"}, false},   // not a qvalue
		{[]string{"gzip;q=abc"}, false}, // not a qvalue
		{[]string{"gzipper"}, false},
		{[]string{"*"}, true},
		{[]string{"*;q=0"}, false},
		{[]string{"gzip;q=0, *"}, false}, // named beats the wildcard
		{[]string{"*;q=0, gzip"}, true},
		{[]string{"identity"}, false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Accept-Encoding"] = tc.header
		if got := AcceptsGzip(r); got != tc.want {
			t.Errorf("AcceptsGzip(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

func TestNotModified(t *testing.T) {
	const tag = `"42-abc"`
	for _, tc := range []struct {
		header []string
		want   bool
	}{
		{nil, false},
		{[]string{tag}, true},
		{[]string{`W/"42-abc"`}, true}, // weak comparison
		{[]string{`"41-abc"`}, false},
		{[]string{`"41-abc", "42-abc"`}, true},
		{[]string{`"41-abc"`, ` "42-abc" `}, true}, // several header lines
		{[]string{"*"}, true},
		{[]string{`42-abc`}, false}, // unquoted is another tag
		{[]string{`"42-abc-gz"`}, false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["If-None-Match"] = tc.header
		if got := NotModified(r, tag); got != tc.want {
			t.Errorf("NotModified(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}
