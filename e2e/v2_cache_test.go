package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOutletAnswerRevalidates: an app that keeps one outlet on screen (a
// favourite pharmacy) polls GET /api/v2/outlets/{code} with the ETag it
// got (DESIGN.md §4.1: If-None-Match gets 304). While that outlet's answer
// is the same it gets 304 — also seconds later, when the node has confirmed
// its snapshot again, and after sales at other outlets — and 200 with a new
// tag once the outlet itself changes. On main the tag moved with the
// node's as_of every second, so the poll always got the whole answer.
func TestOutletAnswerRevalidates(t *testing.T) {
	s := start(t, "--db", filepath.Join(t.TempDir(), "pm.db"), "--seed", "none", "--tiles", "none", "--clock", "2020-03-11T10:00:00+09:00")
	codes, tokens := setupOutlets(t, s, 2, 500)
	path := "/api/v2/outlets/" + codes[0]
	get := func(etag string, gz bool) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", s.base+path, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		} else {
			req.Header.Set("Accept-Encoding", "identity")
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Get("X-Data-As-Of") + " v" + resp.Header.Get("X-Data-Version")
	}
	for _, gz := range []bool{false, true} {
		st, tag, asOf := get("", gz)
		if st != 200 || tag == "" {
			t.Fatalf("gzip %v: first GET %d, ETag %q", gz, st, tag)
		}
		// Seconds later the node has confirmed its snapshot again (a
		// new X-Data-As-Of); the outlet's answer is the same.
		time.Sleep(2500 * time.Millisecond)
		st, _, asOf2 := get(tag, gz)
		if st != 304 {
			t.Errorf("gzip %v: unchanged outlet %.1f s later (X-Data-As-Of %s → %s): %d, want 304", gz, 2.5, asOf, asOf2, st)
		}
		// A sale at another outlet: a new data version, this outlet's
		// answer unchanged.
		s.mustCall("POST", "/api/v2/outlet/sales", tokens[codes[1]], map[string]any{"txn_id": "other-" + map[bool]string{false: "a", true: "b"}[gz], "buyer": born83(map[bool]int{false: 1, true: 2}[gz]), "quantity": 1}, nil, 201)
		waitUntil(t, 5*time.Second, "the sale visible (a new data version)", func() bool {
			_, _, now := get(tag, gz)
			return now[strings.Index(now, " v"):] != asOf2[strings.Index(asOf2, " v"):]
		})
		if st, _, _ := get(tag, gz); st != 304 {
			t.Errorf("gzip %v: after a sale at another outlet: %d, want 304", gz, st)
		}
	}
	// A sale at this outlet changes its answer: 200 and a new tag.
	_, tag, _ := get("", false)
	s.mustCall("POST", "/api/v2/outlet/sales", tokens[codes[0]], map[string]any{"txn_id": "this", "buyer": born83(3), "quantity": 2}, nil, 201)
	waitUntil(t, 5*time.Second, "the outlet's new answer", func() bool {
		st, tag2, _ := get(tag, false)
		return st == 200 && tag2 != tag
	})
}
