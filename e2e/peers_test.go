package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/publicmask/publicmask/internal/browsertest"
)

type nodeRow struct {
	Name          string   `json:"name"`
	Self          bool     `json:"self"`
	URL           string   `json:"url"`
	Role          string   `json:"role"`
	Reachable     bool     `json:"reachable"`
	Reason        string   `json:"reason"`
	AnsweredAgoMs *float64 `json:"answered_ago_ms"`
	AgeMs         *float64 `json:"age_ms"`
	CommitP99Ms   *float64 `json:"commit_p99_ms"`
	StoreError    string   `json:"store_error"`
}

// nodesOf reads a node's public status: the rows of every node, and the body.
func nodesOf(t *testing.T, s *server) (map[string]nodeRow, string) {
	t.Helper()
	code, _, body, err := s.send("GET", "/api/v2/status", "", nil)
	if err != nil || code != 200 {
		t.Fatalf("GET /api/v2/status: %d %v", code, err)
	}
	var st struct {
		Nodes []nodeRow `json:"nodes"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	rows := map[string]nodeRow{}
	for _, r := range st.Nodes {
		rows[r.Name] = r
	}
	return rows, string(body)
}

// TestPeersOnEveryStatusPage: a PostgreSQL deployment — one ledger node, two
// public nodes, and a fourth "node" that serves garbage — all started with
// the same --peers list. Every node's /status lists every node with its
// hops as that node measured them (DESIGN.md §1.7): the ledger's sale →
// commit on the public node's page. A public node stopped mid-test shows
// unreachable within seconds and reachable again once back; the garbage
// peer shows as not a publicmask status and its text is never markup; a
// flood of /status does not become traffic to the peers; no address of a
// peer appears without the admin token. The page says all this in Korean
// and English.
func TestPeersOnEveryStatusPage(t *testing.T) {
	skipShort(t, "runs three real processes, PostgreSQL and Chromium")
	dsn := pgDSN(t)
	dir := t.TempDir()
	lAddr, p1Addr, p2Addr, gAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)

	// The garbage peer: first an HTML page, later a status whose text is markup.
	var garbageHits atomic.Int64
	var markup atomic.Bool
	ln, err := net.Listen("tcp", gAddr)
	if err != nil {
		t.Fatal(err)
	}
	gs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		garbageHits.Add(1)
		if markup.Load() {
			w.Write([]byte(`{"role":"public","snapshot":{"version":1,"age_ms":5},"store":{"ok":false,"error":"<img id=injected src=x onerror=alert(1)>"}}`))
			return
		}
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html><body>Bad Gateway</body></html>"))
	})}
	go gs.Serve(ln)
	t.Cleanup(func() { gs.Close() })

	peers := fmt.Sprintf("ledger=http://%s,pub1=http://%s,pub2=http://%s,odd=http://%s", lAddr, p1Addr, p2Addr, gAddr)
	common := []string{"--db", dsn, "--seed", "none", "--tiles", "none", "--clock", "2020-03-11T10:00:00+09:00", "--peers", peers}
	led := startOn(t, lAddr, append([]string{"--role", "ledger", "--secret-file", secretFile(t, dir)}, common...)...)
	pub1 := startOn(t, p1Addr, append([]string{"--role", "public"}, common...)...)
	pub2args := append([]string{"--role", "public"}, common...)
	pub2 := startOn(t, p2Addr, pub2args...)

	codes, tokens := setupOutlets(t, led, 2, 500)
	for i := range 20 {
		c := codes[i%len(codes)]
		led.mustCall("POST", "/api/v2/outlet/sales", tokens[c], map[string]any{"txn_id": fmt.Sprintf("peer-%d", i), "buyer": born83(i), "quantity": 1}, nil, 201)
	}

	// The public node's page shows the ledger's commit hop, measured there.
	waitUntil(t, 15*time.Second, "pub1 lists every node, the ledger's commit hop included", func() bool {
		rows, _ := nodesOf(t, pub1)
		l, p2, odd := rows["ledger"], rows["pub2"], rows["odd"]
		return len(rows) == 4 && rows["pub1"].Self && rows["pub1"].Role == "public" &&
			l.Reachable && l.Role == "ledger" && l.CommitP99Ms != nil && *l.CommitP99Ms > 0 &&
			p2.Reachable && p2.AgeMs != nil && !odd.Reachable && odd.Reason == "bad_answer"
	})
	rows, body := nodesOf(t, led)
	if len(rows) != 4 || !rows["ledger"].Self || !rows["pub1"].Reachable {
		t.Fatalf("the ledger's own list: %s", body)
	}
	for _, s := range []*server{led, pub1} {
		_, body := nodesOf(t, s)
		for _, a := range []string{lAddr, p1Addr, p2Addr, gAddr} {
			if strings.Contains(body, a) {
				t.Fatalf("%s's public status shows the address %s: %s", s.base, a, body)
			}
		}
	}
	var admin struct {
		Nodes []nodeRow `json:"nodes"`
	}
	led.mustCall("GET", "/api/v2/status", adminToken, nil, &admin, 200) // a public node knows no admin
	if len(admin.Nodes) != 4 || admin.Nodes[1].URL == "" {
		t.Fatalf("the admin sees no peer URL: %+v", admin.Nodes)
	}

	// A flood of /status on one node: the peers see only the polls.
	before, start := garbageHits.Load(), time.Now()
	for range 300 {
		if code, _, _, err := pub1.send("GET", "/api/v2/status", "", nil); err != nil || code != 200 {
			t.Fatalf("flood: %d %v", code, err)
		}
	}
	elapsed := time.Since(start)
	// Three nodes poll the garbage peer every 2 s each.
	if got, most := garbageHits.Load()-before, 3*(int64(elapsed/(2*time.Second))+2); got > most {
		t.Fatalf("300 /status requests in %v: the garbage peer got %d requests, want at most %d", elapsed, got, most)
	}
	t.Logf("300 /status requests in %v: %d polls reached the garbage peer", elapsed.Round(time.Millisecond), garbageHits.Load()-before)

	// pub2 stops: unreachable on the others' pages within seconds.
	pub2.stop()
	stopped := time.Now()
	waitUntil(t, 6*time.Second, "pub2 shown unreachable on pub1 and the ledger", func() bool {
		a, _ := nodesOf(t, pub1)
		b, _ := nodesOf(t, led)
		return !a["pub2"].Reachable && a["pub2"].Reason == "refused" && a["pub2"].AnsweredAgoMs != nil && !b["pub2"].Reachable
	})
	t.Logf("pub2 stopped: shown unreachable after %v", time.Since(stopped).Round(time.Millisecond))
	if m := pub1.metrics(t); !strings.Contains(m, `publicmask_peer_up{peer="pub2"} 0`) || !strings.Contains(m, `publicmask_peer_up{peer="ledger"} 1`) {
		t.Fatalf("pub1's publicmask_peer_up while pub2 is down:\n%s", grepLines(m, "publicmask_peer_up"))
	}

	// The page, in both languages, while pub2 is down and the garbage peer
	// sends markup as text.
	markup.Store(true)
	p := browsertest.NewPage(t, 1280, 1000) // skips without Chromium (fails under CI)
	want := map[string][2]string{"en": {"connection refused", "this node"}, "ko": {"연결 거부", "이 노드"}}
	for _, lang := range []string{"en", "ko"} {
		p.Run(browsertest.Navigate(pub1.base + "/status?lang=" + lang))
		p.Wait(`document.querySelectorAll('#nodes tr').length === 4 && /img/.test(document.querySelector('#nodes tr[data-node=odd]').textContent)`, 10*time.Second)
		down, self := p.Text(`document.querySelector('#nodes tr[data-node=pub2]')`), p.Text(`document.querySelector('#nodes tr.self')`)
		if !strings.Contains(down, want[lang][0]) || !strings.Contains(self, want[lang][1]) || !strings.Contains(self, "pub1") {
			t.Errorf("/status?lang=%s: pub2 row %q, own row %q; want %q and %q", lang, down, self, want[lang][0], want[lang][1])
		}
		var injected bool
		p.Eval(`document.getElementById('injected') !== null || document.querySelector('#nodes img') !== null`, &injected)
		if injected {
			t.Fatalf("/status?lang=%s: the garbage peer's text became markup", lang)
		}
		if t.Failed() {
			t.Logf("screenshot: %s", p.Screenshot("peers-"+lang))
		}
	}

	// pub2 is back: reachable again within seconds.
	startOn(t, p2Addr, pub2args...)
	back := time.Now()
	waitUntil(t, 6*time.Second, "pub2 shown reachable again", func() bool {
		a, _ := nodesOf(t, pub1)
		return a["pub2"].Reachable && a["pub2"].Reason == ""
	})
	t.Logf("pub2 back: shown reachable after %v", time.Since(back).Round(time.Millisecond))
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
