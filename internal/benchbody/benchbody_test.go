package benchbody

import (
	"net/http/httptest"
	"strconv"
	"testing"
)

func TestServe(t *testing.T) {
	for _, tc := range []struct {
		query string
		n     int
	}{
		{"", 10_000},
		{"?bytes=2", 2},
		{"?bytes=4321", 4321},
		{"?bytes=1", 10_000},       // too small for a JSON string
		{"?bytes=2000000", 10_000}, // over 1 MiB
		{"?bytes=x", 10_000},
	} {
		rec := httptest.NewRecorder()
		Serve(rec, httptest.NewRequest("GET", "/debug/fixed"+tc.query, nil))
		b := rec.Body.Bytes()
		if len(b) != tc.n || b[0] != '"' || b[len(b)-1] != '"' {
			t.Errorf("%q: %d bytes, want a JSON string of %d", tc.query, len(b), tc.n)
		}
		if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(tc.n) {
			t.Errorf("%q: Content-Length %s", tc.query, cl)
		}
	}
}
