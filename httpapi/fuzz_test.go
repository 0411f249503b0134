package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"testing"
)

// FuzzSaleBody throws arbitrary bodies at POST /api/v2/outlet/sales: the
// answer is always a contract status with a JSON body, and the body's
// digits never come back in an error.
func FuzzSaleBody(f *testing.F) {
	for _, s := range []string{
		`{"txn_id":"t1","buyer":"8303151992777","quantity":2}`,
		`{"txn_id":"t1","buyer":"830315-1992777","quantity":0,"on_behalf_of":[{"id":"1203013712796","category":"child","quantity":1}]}`,
		`{"txn_id":"t1","buyer":"8303151992777","quantity":1,"sold_at":"2020-03-10T18:00:00+09:00"}`,
		`{"txn_id":"t1","buyer":8303151992777,"quantity":"2"}`,
		`{"txn_id":"t1","buyer":"8303151992777","quantity":1e99}`,
		`{"txn_id":"t1","8303151992777":1}`,
		`[1,2]`, `null`, `{}`, `{"a":`, "",
	} {
		f.Add([]byte(s))
	}
	h := newServer(Config{Logger: slog.New(slog.DiscardHandler)}, newFake()).Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/api/v2/outlet/sales", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer tokA")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 201:
			return
		case 400, 413:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var e errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" {
			t.Fatalf("not a JSON error: %s", rec.Body)
		}
		for _, run := range digitRuns(body, 6) {
			if bytes.Contains([]byte(e.Error.Message), run) {
				t.Fatalf("echoed %q from the body: %s", run, e.Error.Message)
			}
		}
	})
}

// digitRuns returns the runs of at least n digits in b.
func digitRuns(b []byte, n int) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i <= len(b); i++ {
		if i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && i-start >= n {
			out = append(out, b[start:i])
		}
		start = -1
	}
	return out
}
