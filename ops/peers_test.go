package ops

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/publicmask/publicmask/httpapi"
)

func TestParsePeers(t *testing.T) {
	got, err := ParsePeers(" ledger=http://10.0.0.1:8080/ , https://pub.example:8443,pub2=http://h/base")
	if err != nil {
		t.Fatal(err)
	}
	want := []PeerSpec{{"ledger", "http://10.0.0.1:8080"}, {"peer2", "https://pub.example:8443"}, {"pub2", "http://h/base"}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("entry %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if l, err := ParsePeers(""); err != nil || l != nil {
		t.Fatalf("empty: %v %v", l, err)
	}
	for _, bad := range []string{
		"ftp://h", "h:8080", "http://", "http://u:p@h", "http://h/?q=1", "http://h/#f",
		"a=http://h,a=http://i", "http://h,http://h/", "<b>=http://h", "a b=http://h",
		strings.Repeat("http://h,", 40) + "http://h",
	} {
		if _, err := ParsePeers(bad); err == nil {
			t.Errorf("ParsePeers(%q) accepted", bad)
		}
	}
}

// peerServer serves body (or calls serve) and counts the requests.
func peerServer(t *testing.T, serve http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		serve(w, r)
	}))
	t.Cleanup(s.Close)
	return s, &hits
}

func jsonBody(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}
}

// A peer's answer is checked and only the shown figures are kept: garbage,
// an oversize or slow answer, an error status, a made-up role or negative
// durations make the peer unreachable with a reason; free text is bounded
// and stripped of control characters.
func TestPeerAnswers(t *testing.T) {
	good := `{"role":"public","version":7,"store":{"ok":true},"snapshot":{"version":7,"age_ms":120.5,"behind_store":false,"oldest_unapplied_ms":0,"freshness_p50_ms":30,"freshness_p99_ms":80},` +
		`"latency":{"public":{"p50_ms":1,"p99_ms":4},"outlet":{"p50_ms":null,"p99_ms":null}},"nodes":[{"name":"x","url":"http://secret"}],"history":[]}`
	cases := []struct {
		name   string
		serve  http.HandlerFunc
		reason string
	}{
		{"good", jsonBody(good), ""},
		{"html", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html><script>alert(1)</script>")) }, reasonBadJSON},
		{"empty object", jsonBody(`{}`), reasonBadJSON},
		{"made-up role", jsonBody(`{"role":"<b>boss</b>"}`), reasonBadJSON},
		{"negative age", jsonBody(`{"role":"public","snapshot":{"version":1,"age_ms":-5}}`), reasonBadJSON},
		{"wrong type", jsonBody(`{"role":"public","snapshot":{"version":"1"}}`), reasonBadJSON},
		{"too large", jsonBody(`{"role":"public","pad":"` + strings.Repeat("x", peerMaxBody) + `"}`), reasonTooLarge},
		{"503", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, reasonStatus},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://example.com/", http.StatusFound)
		}, reasonStatus},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(3 * peerTimeout):
			case <-r.Context().Done():
			}
		}, reasonTimeout},
	}
	var specs []PeerSpec
	for _, c := range cases {
		s, _ := peerServer(t, c.serve)
		specs = append(specs, PeerSpec{Label: strings.ReplaceAll(c.name, " ", "-"), URL: s.URL})
	}
	reg := prometheus.NewRegistry()
	p := NewPeers(specs, reg, t.Logf)
	for _, pe := range p.list {
		p.poll(context.Background(), pe)
	}
	rows, _, _ := p.views(false)
	for i, c := range cases {
		r := rows[i]
		if r.Reason != c.reason || r.Reachable != (c.reason == "") {
			t.Errorf("%s: reachable %v reason %q, want %q", c.name, r.Reachable, r.Reason, c.reason)
		}
		if r.URL != "" || r.Detail != "" {
			t.Errorf("%s: URL %q / detail %q shown without the admin token", c.name, r.URL, r.Detail)
		}
	}
	g := rows[0]
	if g.Role != "public" || g.Version == nil || *g.Version != 7 || *g.AgeMs != 120.5 || *g.FreshnessP99Ms != 80 || *g.PublicP99Ms != 4 || g.OutletP99Ms != nil || g.AnsweredAgoMs == nil {
		t.Fatalf("good peer's row %+v", g)
	}
	if rows[7].HTTPStatus != 503 {
		t.Fatalf("503 row %+v", rows[7])
	}
	if v := gaugeValue(p.list[0].upGauge); v != 1 {
		t.Fatalf("publicmask_peer_up of the good peer %v", v)
	}
	if v := gaugeValue(p.list[1].upGauge); v != 0 {
		t.Fatalf("publicmask_peer_up of the garbage peer %v", v)
	}
	admin, _, _ := p.views(true)
	if admin[0].URL != specs[0].URL || !strings.Contains(admin[1].Detail, "not a status") {
		t.Fatalf("admin rows %+v %+v", admin[0], admin[1])
	}

	a := peerAnswer{Role: "public"}
	a.Store = &peerStore{OK: new(bool), Error: "disk\x07 <b>full</b>" + strings.Repeat("é", 300), Cause: "disk_full\x07" + strings.Repeat("x", 100)}
	v, err := a.view()
	if err != nil || strings.ContainsRune(v.StoreError, 7) || len([]rune(v.StoreError)) != maxStoreError+1 {
		t.Fatalf("store error %q (%v)", v.StoreError, err)
	}
	if strings.ContainsRune(v.StoreCause, 7) || len([]rune(v.StoreCause)) != maxStoreCause+1 || !strings.HasPrefix(v.StoreCause, "disk_full") {
		t.Fatalf("store cause %q", v.StoreCause)
	}
}

// A peer that stops is shown unreachable with its last figures and how
// long ago it answered; when it is back, reachable again.
func TestPeerStopsAndReturns(t *testing.T) {
	var down atomic.Bool
	s, _ := peerServer(t, func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			// Drop the connection, like a process that has gone.
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			c.Close()
			return
		}
		jsonBody(`{"role":"ledger","ledger":{"commit":{"p50_ms":2,"p99_ms":9},"queue":{"p50_ms":0.1,"p99_ms":0.5}}}`)(w, r)
	})
	p := NewPeers([]PeerSpec{{"l", s.URL}}, prometheus.NewRegistry(), t.Logf)
	pe := p.list[0]
	p.poll(context.Background(), pe)
	down.Store(true)
	p.poll(context.Background(), pe)
	rows, _, _ := p.views(false)
	r := rows[0]
	if r.Reachable || r.Reason != reasonNetwork || r.CommitP99Ms == nil || *r.CommitP99Ms != 9 || r.AnsweredAgoMs == nil {
		t.Fatalf("stopped peer %+v", r)
	}
	down.Store(false)
	p.poll(context.Background(), pe)
	if rows, _, _ := p.views(false); !rows[0].Reachable || rows[0].Reason != "" {
		t.Fatalf("peer back %+v", rows[0])
	}
}

// A list that names the node itself (one list for every node) is
// recognised by the nonce: that entry is not polled again and its label
// names this node's row. /status reads only what the polls brought: many
// requests for it cost the peers nothing.
func TestPeersSelfAndNoAmplification(t *testing.T) {
	other, otherHits := peerServer(t, jsonBody(`{"role":"public","snapshot":{"version":3,"age_ms":10}}`))
	var p *Peers
	me := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.MarkSelf(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			json.NewEncoder(w).Encode(map[string]any{"role": "all"})
		})).ServeHTTP(w, r)
	}))
	t.Cleanup(me.Close)
	p = NewPeers([]PeerSpec{{"me", me.URL}, {"pub", other.URL}}, prometheus.NewRegistry(), t.Logf)
	if self := p.poll(context.Background(), p.list[0]); !self {
		t.Fatal("the node did not recognise itself")
	}
	p.poll(context.Background(), p.list[1])
	n := Node{Role: httpapi.RoleAll, Now: time.Now, Store: map[string]any{"ok": true}, Peers: p}
	before := otherHits.Load()
	var out map[string]any
	for range 200 {
		out = Status(context.Background(), n, nil, false)
	}
	if otherHits.Load() != before {
		t.Fatalf("/status requests reached the peer: %d polls", otherHits.Load()-before)
	}
	rows := out["nodes"].([]NodeView)
	if len(rows) != 2 || !rows[0].Self || rows[0].Name != "me" || rows[0].Role != "all" || rows[1].Name != "pub" || *rows[1].Version != 3 {
		t.Fatalf("nodes %+v", rows)
	}
	// Another process's nonce is not this one's: no self answer.
	q := NewPeers([]PeerSpec{{"me", me.URL}}, prometheus.NewRegistry(), t.Logf)
	if q.poll(context.Background(), q.list[0]) {
		t.Fatal("another process took the node for itself")
	}
}

func gaugeValue(g prometheus.Gauge) float64 {
	var m dto.Metric
	g.Write(&m)
	return m.GetGauge().GetValue()
}
