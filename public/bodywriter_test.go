package public

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// heldRecorder is a ResponseWriter with WriteBody, as httpapi hands out.
type heldRecorder struct {
	*httptest.ResponseRecorder
	calls int
	owned bool
	done  func()
}

func (h *heldRecorder) WriteBody(b []byte, owned bool, done func()) {
	h.calls++
	h.owned, h.done = owned, done
	h.Write(b)
}

// Bodies are handed over without a copy; only pages that live with the
// outlet registry are shared, everything else counts as this response's
// own (a slow reader would keep it alive).
func TestBodiesHandedOver(t *testing.T) {
	env, _ := gangbukEnv(t, Options{})
	cases := []struct {
		path  string
		owned bool
	}{
		{"/corona19-masks/v1/stores/json?perPage=500", false},              // registry-scoped cache
		{"/corona19-masks/v1/sales/json?perPage=500", true},                // cached on one snapshot
		{"/corona19-masks/v1/storesByGeo/json?lat=37.63&lng=127.02", true}, // built for this request
		{"/api/v2/summary", true},
	}
	for _, c := range cases {
		for _, gz := range []bool{false, true} {
			req := httptest.NewRequest("GET", c.path, nil)
			if gz {
				req.Header.Set("Accept-Encoding", "gzip")
			}
			w := &heldRecorder{ResponseRecorder: httptest.NewRecorder()}
			env.h.ServeHTTP(w, req)
			if w.Code != http.StatusOK || w.calls != 1 || w.owned != c.owned || w.Body.Len() == 0 {
				t.Errorf("%s gzip=%v: status %d, WriteBody calls %d, owned %v (want %v)", c.path, gz, w.Code, w.calls, w.owned, c.owned)
			}
			if w.done != nil {
				w.done() // returns a pooled buffer, as httpapi does after writing
			}
		}
	}
}
