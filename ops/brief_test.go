package ops

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/httpapi"
)

// ?brief=1 (Node.Brief) leaves out the history and the stale outlets, and
// keeps every figure a peer's poll reads.
func TestBriefStatus(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := NewCollector(reg)
	c.Sample()
	time.Sleep(10 * time.Millisecond)
	c.Sample()
	now := time.Date(2020, 3, 11, 14, 0, 0, 0, time.UTC)
	snap := staleSnapshot(t, now)
	n := Node{Role: httpapi.RolePublic, Now: func() time.Time { return now }, Store: map[string]any{"ok": true}, Snapshot: snap, Age: func() time.Duration { return 120 * time.Millisecond },
		Changes: func(context.Context, int64, int) ([]publicmask.Outlet, error) { return nil, nil }}
	full := Status(context.Background(), n, c, false)
	n.Brief = true
	brief := Status(context.Background(), n, c, false)
	for _, k := range []string{"history", "stale_outlets", "stale_outlets_count"} {
		if _, ok := full[k]; !ok {
			t.Errorf("the full status has no %q", k)
		}
		if _, ok := brief[k]; ok {
			t.Errorf("the brief status has %q", k)
		}
	}
	fb, _ := json.Marshal(full)
	bb, _ := json.Marshal(brief)
	var fa, ba peerAnswer
	if json.Unmarshal(fb, &fa) != nil || json.Unmarshal(bb, &ba) != nil {
		t.Fatal("not a peer answer")
	}
	fv, err1 := fa.view()
	bv, err2 := ba.view()
	fj, _ := json.Marshal(fv)
	bj, _ := json.Marshal(bv)
	if err1 != nil || err2 != nil || string(fj) != string(bj) {
		t.Errorf("a peer reads the brief status otherwise than the full one:\nfull  %s (%v)\nbrief %s (%v)", fj, err1, bj, err2)
	}
	if len(bb) >= len(fb) {
		t.Errorf("brief %d bytes, full %d", len(bb), len(fb))
	}
}

// The poller asks for ?brief=1, and a peer older than the option, which
// ignores it and sends the whole status, history and all, reads the same.
func TestPeerPollsBrief(t *testing.T) {
	answer := func(brief bool) string {
		s := `{"role":"public","version":7,"store":{"ok":true},"snapshot":{"version":7,"age_ms":120.5,"behind_store":false,"oldest_unapplied_ms":0,"freshness_p50_ms":30,"freshness_p99_ms":80},` +
			`"latency":{"public":{"p50_ms":1,"p99_ms":4}}`
		if !brief {
			s += `,"stale_outlets":[],"stale_outlets_count":0,"history":[` + strings.TrimSuffix(strings.Repeat(`{"at":"2020-03-11T05:00:00Z","sales_per_s":0,"public_reads_per_s":1.5},`, 600), ",") + `]`
		}
		return s + "}"
	}
	var newQuery, oldQuery atomic.Value
	newer, _ := peerServer(t, func(w http.ResponseWriter, r *http.Request) {
		newQuery.Store(r.URL.RawQuery)
		w.Write([]byte(answer(r.URL.Query().Get("brief") == "1")))
	})
	older, _ := peerServer(t, func(w http.ResponseWriter, r *http.Request) {
		oldQuery.Store(r.URL.RawQuery)
		w.Write([]byte(answer(false))) // knows no brief
	})
	p := NewPeers([]PeerSpec{{"newer", newer.URL}, {"older", older.URL}}, prometheus.NewRegistry(), t.Logf)
	for _, pe := range p.list {
		p.poll(context.Background(), pe)
	}
	if q, _ := newQuery.Load().(string); q != "brief=1" {
		t.Errorf("the poll's query %q, want brief=1", q)
	}
	if q, _ := oldQuery.Load().(string); q != "brief=1" {
		t.Errorf("the poll's query to the older peer %q, want brief=1", q)
	}
	rows, _, _ := p.views(false)
	for _, r := range rows {
		if !r.Reachable || r.Version == nil || *r.Version != 7 || r.PublicP99Ms == nil || *r.PublicP99Ms != 4 || r.FreshnessP99Ms == nil || *r.FreshnessP99Ms != 80 {
			t.Errorf("row of %s: %+v", r.Name, r)
		}
	}
}
