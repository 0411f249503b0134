package rush

// Fault injection: a rush proves its claims only if it fails against a
// server that breaks them. Each test here puts a lying proxy between the
// rush and a correct node (the proxy plays the wrong server) and requires
// the rush to name the fault among its violations.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/publicmask/publicmask/app"
)

// testListener listens on 127.0.0.1: on the first free port of
// PUBLICMASK_E2E_PORTS (lo-hi) when set (a shared machine), else any.
func testListener(t *testing.T) net.Listener {
	t.Helper()
	if r := os.Getenv("PUBLICMASK_E2E_PORTS"); r != "" {
		var lo, hi int
		if _, err := fmt.Sscanf(r, "%d-%d", &lo, &hi); err != nil || lo <= 0 || hi < lo {
			t.Fatalf("PUBLICMASK_E2E_PORTS=%q: want lo-hi", r)
		}
		for p := lo; p <= hi; p++ {
			if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
				return ln
			}
		}
		t.Fatalf("no free port in %s", r)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startTestNode serves a node on a temporary store, as the rush's own
// server (startServer), on a port testListener picks.
func startTestNode(t *testing.T) (base, token string) {
	t.Helper()
	ln := testListener(t)
	addr := ln.Addr().String()
	ln.Close()
	token = "fault-admin-token-0123456789"
	ctx, stop := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	node, err := app.Open(ctx, app.Config{
		Addr: addr, DB: filepath.Join(t.TempDir(), "rush.db"), Seed: "none",
		Clock: DefaultConfig().Clock, ClockRate: 1, Policy: "standard", AdminToken: token,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Out: io.Discard,
		ReadyNotify: func(a string) { ready <- a },
	})
	if err != nil {
		stop()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- node.Serve(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	select {
	case a := <-ready:
		return "http://" + a, token
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	return "", ""
}

// liar is a proxy in front of a node. sale, when set, answers each sale
// attempt: it may forward it (fwd) and then say what it likes. read, when
// set, may rewrite a public GET's answer.
type liar struct {
	node  string
	sale  func(token string, body []byte, fwd func(body []byte) (int, []byte)) (int, []byte)
	read  func(path string, status int, body []byte) []byte
	c     *http.Client
	proxy *httputil.ReverseProxy
}

func startLiar(t *testing.T, node string, l *liar) string {
	t.Helper()
	u, _ := url.Parse(node)
	l.node = node
	l.c = &http.Client{Timeout: 10 * time.Second}
	l.proxy = httputil.NewSingleHostReverseProxy(u)
	l.proxy.FlushInterval = -1 // the live stream
	l.proxy.ErrorLog = nil
	if l.read != nil {
		l.proxy.ModifyResponse = func(r *http.Response) error {
			if r.Request.Method != http.MethodGet || strings.HasPrefix(r.Request.URL.Path, "/api/v2/stream") ||
				strings.HasPrefix(r.Request.URL.Path, "/api/v2/outlet") && !strings.HasPrefix(r.Request.URL.Path, "/api/v2/outlets") {
				return nil
			}
			b, err := io.ReadAll(r.Body)
			r.Body.Close()
			if err != nil {
				return err
			}
			b = l.read(r.Request.URL.Path, r.StatusCode, b)
			r.Body = io.NopCloser(bytes.NewReader(b))
			r.ContentLength = int64(len(b))
			r.Header.Set("Content-Length", fmt.Sprint(len(b)))
			r.Header.Del("Content-Encoding")
			return nil
		}
	}
	ln := testListener(t)
	hs := &http.Server{Handler: l}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return "http://" + ln.Addr().String()
}

func (l *liar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if l.sale == nil || r.Method != http.MethodPost || r.URL.Path != "/api/v2/outlet/sales" {
		l.proxy.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	status, b := l.sale(token, body, func(body []byte) (int, []byte) { return l.post(token, "/api/v2/outlet/sales", body) })
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func (l *liar) post(token, path string, body []byte) (int, []byte) {
	req, _ := http.NewRequest(http.MethodPost, l.node+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.c.Do(req)
	if err != nil {
		return http.StatusBadGateway, []byte(`{"error":{"code":"bad_gateway","message":"` + err.Error() + `"}}`)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// rushThrough makes a short, slow rush against base and returns its report.
func rushThrough(t *testing.T, base, token string, mod func(*Config)) *Report {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Target, cfg.AdminToken = base, token
	cfg.Duration, cfg.SalesRate, cfg.ReadRate = 2*time.Second, 60, 40
	cfg.Outlets, cfg.Streams, cfg.Scrapers = 30, 1, 0
	cfg.SalesWorkers, cfg.ReadWorkers = 16, 16
	cfg.Quiet, cfg.Progress = true, io.Discard
	cfg.ReportDir = t.TempDir()
	if mod != nil {
		mod(&cfg)
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rep.Sales.OK == 0 {
		t.Fatalf("no sale acknowledged: %+v", rep.Sales)
	}
	return rep
}

func violationsOf(rep *Report, check string) []Violation {
	var out []Violation
	for _, v := range rep.Violations {
		if v.Check == check {
			out = append(out, v)
		}
	}
	return out
}

// saleReq is the part of a sale body a liar reads.
type saleReq struct {
	TxnID    string `json:"txn_id"`
	Buyer    string `json:"buyer"`
	Quantity int    `json:"quantity"`
}

// TestFaultAckWithoutForwarding: a proxy answers 201 to one sale in ten
// without passing it on, with a receipt of its own making, and answers its
// replays with that receipt again (a consistent liar, so the replay check
// cannot see it). The sale is not on the server: the rush must say an
// acknowledged sale is missing. It did not before the rush read back its
// acknowledged sales (only sampled replays and, with its own server only, a
// stock sample looked).
func TestFaultAckWithoutForwarding(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: a node, a proxy and a rush")
	}
	node, token := startTestNode(t)
	var n atomic.Int64
	var mu sync.Mutex
	faked := map[string][]byte{} // txn_id → the made-up receipt
	l := &liar{sale: func(tok string, body []byte, fwd func([]byte) (int, []byte)) (int, []byte) {
		var s saleReq
		json.Unmarshal(body, &s)
		mu.Lock()
		r, ok := faked[s.TxnID]
		mu.Unlock()
		if ok {
			return http.StatusOK, r
		}
		if n.Add(1)%10 != 5 {
			return fwd(body)
		}
		// Only a sale the server would make: the check says so.
		if st, b := (&liar{node: node, c: &http.Client{Timeout: 5 * time.Second}}).post(tok, "/api/v2/outlet/check", body); st != 200 || !bytes.Contains(b, []byte(`"eligible":true`)) {
			return fwd(body)
		}
		r = fmt.Appendf(nil, `{"sale_id":"sfake%06d","sold_at":"%s","items":[{"role":"buyer","quantity":%d,"remaining_this_week":0}],"outlet":{"stock":50,"remain_stat":"some"}}`,
			n.Load(), time.Now().Format(time.RFC3339Nano), s.Quantity)
		mu.Lock()
		faked[s.TxnID] = r
		mu.Unlock()
		return http.StatusCreated, r
	}}
	rep := rushThrough(t, startLiar(t, node, l), token, nil)
	mu.Lock()
	nFaked := len(faked)
	mu.Unlock()
	if nFaked == 0 {
		t.Fatal("the proxy made up no receipt")
	}
	if got := violationsOf(rep, "acked_sale_missing"); len(got) != nFaked {
		t.Errorf("%d receipts made up, %d acked_sale_missing violations; all violations: %v", nFaked, len(got), rep.Violations)
	}
	if rep.Acked.Missing != int64(nFaked) || rep.Acked.Found+rep.Acked.Missing+rep.Acked.Unchecked != rep.Sales.OK {
		t.Errorf("acked %+v, sales ok %d, %d made up", rep.Acked, rep.Sales.OK, nFaked)
	}
}

// TestFaultLostAfterAck: the server acknowledges a sale and then loses
// it, consistently (stock and the buyer's quota restored, as if the
// commit had been rolled back after the answer): here the proxy cancels
// one acknowledged sale in ten behind the counter's back. The server's own
// verify is satisfied (a cancel is lawful) and replays still answer the
// first receipt; the rush must notice that the sale it was acknowledged
// is not standing.
func TestFaultLostAfterAck(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: a node, a proxy and a rush")
	}
	node, token := startTestNode(t)
	var n, lost atomic.Int64
	l := &liar{}
	l.sale = func(tok string, body []byte, fwd func([]byte) (int, []byte)) (int, []byte) {
		st, b := fwd(body)
		if st == http.StatusCreated && n.Add(1)%10 == 5 {
			var r receipt
			json.Unmarshal(b, &r)
			if cst, cb := l.post(tok, "/api/v2/outlet/sales/"+r.SaleID+"/cancel", nil); cst != http.StatusOK {
				t.Errorf("cancel %s: %d %s", r.SaleID, cst, cb)
			}
			lost.Add(1)
		}
		return st, b
	}
	rep := rushThrough(t, startLiar(t, node, l), token, nil)
	if lost.Load() == 0 {
		t.Fatal("the proxy lost no sale")
	}
	if !rep.Verify.OK {
		t.Errorf("verify: %+v (the cancels are lawful: the server cannot see this fault)", rep.Verify)
	}
	if got := violationsOf(rep, "acked_sale_missing"); int64(len(got)) != lost.Load() {
		t.Errorf("%d sales lost after their ack, %d acked_sale_missing violations; all: %v", lost.Load(), len(got), rep.Violations)
	}
}

// TestFaultReplayWithAnotherReceipt: a retry of an acknowledged sale must
// get the first receipt again, byte for byte (DESIGN.md §6.6), not a new
// one with the same sale_id (here the stock of now instead of the stock
// after the sale). The replay check compared only the sale_id.
func TestFaultReplayWithAnotherReceipt(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: a node, a proxy and a rush")
	}
	node, token := startTestNode(t)
	var altered atomic.Int64
	l := &liar{sale: func(tok string, body []byte, fwd func([]byte) (int, []byte)) (int, []byte) {
		st, b := fwd(body)
		if st == http.StatusOK {
			if i := bytes.Index(b, []byte(`"stock":`)); i >= 0 {
				b = append(append(append([]byte{}, b[:i]...), `"stock":-7,"was":`...), b[i+len(`"stock":`):]...)
				altered.Add(1)
			}
		}
		return st, b
	}}
	rep := rushThrough(t, startLiar(t, node, l), token, nil)
	if altered.Load() == 0 {
		t.Fatal("no replay altered")
	}
	if got := violationsOf(rep, "replay"); int64(len(got)) != altered.Load() || rep.Replay.Failed != int(altered.Load()) {
		t.Errorf("%d replays answered with another receipt, %d replay violations, replay %+v; all: %v", altered.Load(), len(got), rep.Replay, rep.Violations)
	}
}

// TestFaultReceiptDisagreesWithTheSale: a receipt for fewer masks than the
// counter asked for (the counter hands over two, the ledger counts one: the
// buyer may come back for more than the quota) and a receipt with stock
// below zero (DESIGN.md §4.3: stock never goes below zero) were taken as
// they came.
func TestFaultReceiptDisagreesWithTheSale(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: a node, a proxy and a rush")
	}
	node, token := startTestNode(t)
	var n, fewer, negative atomic.Int64
	l := &liar{sale: func(tok string, body []byte, fwd func([]byte) (int, []byte)) (int, []byte) {
		switch k := n.Add(1) % 10; {
		case k == 4 && bytes.Contains(body, []byte(`"quantity":2`)):
			st, b := fwd(bytes.Replace(body, []byte(`"quantity":2`), []byte(`"quantity":1`), 1))
			if st == http.StatusCreated {
				fewer.Add(1)
			}
			return st, b
		case k == 7:
			st, b := fwd(body)
			if i := bytes.Index(b, []byte(`"stock":`)); st == http.StatusCreated && i >= 0 {
				j := i + len(`"stock":`)
				for j < len(b) && b[j] >= '0' && b[j] <= '9' {
					j++
				}
				b = append(append(append([]byte{}, b[:i]...), `"stock":-3`...), b[j:]...)
				negative.Add(1)
			}
			return st, b
		}
		return fwd(body)
	}}
	rep := rushThrough(t, startLiar(t, node, l), token, func(c *Config) { c.Replay = 0 })
	if fewer.Load() == 0 || negative.Load() == 0 {
		t.Fatalf("faults made: %d fewer, %d negative", fewer.Load(), negative.Load())
	}
	if got := violationsOf(rep, "receipt_quantity"); int64(len(got)) != fewer.Load() {
		t.Errorf("%d receipts for fewer masks than asked, %d receipt_quantity violations; all: %v", fewer.Load(), len(got), rep.Violations)
	}
	if got := violationsOf(rep, "negative_stock"); int64(len(got)) != negative.Load() {
		t.Errorf("%d receipts with stock below zero, %d negative_stock violations; all: %v", negative.Load(), len(got), rep.Violations)
	}
}

// TestFaultPublicViewDisagrees: the public API shows an outlet one band
// above what its sales leave (some as plenty, few as some, empty as few:
// 2020's stale stock). The rush counted ghosts and freshness timeouts and
// passed; once the load is over the public view must come to agree with
// the ledger, or the run fails.
func TestFaultPublicViewDisagrees(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: a node, a proxy and a rush")
	}
	node, token := startTestNode(t)
	up := strings.NewReplacer(`"remain_stat":"some"`, `"remain_stat":"plenty"`, `"remain_stat":"few"`, `"remain_stat":"some"`, `"remain_stat":"empty"`, `"remain_stat":"few"`)
	l := &liar{read: func(path string, status int, body []byte) []byte {
		if !strings.HasPrefix(path, "/api/v2/outlets/") {
			return body
		}
		return []byte(up.Replace(string(body)))
	}}
	rep := rushThrough(t, startLiar(t, node, l), token, func(c *Config) { c.ProbeEvery = 0 })
	stale := violationsOf(rep, "public_stale")
	if len(stale) == 0 || rep.Public.Stale != len(stale) || rep.Public.Agree+rep.Public.Stale+rep.Public.Unread != rep.Public.Outlets {
		t.Fatalf("public %+v, %d public_stale violations; all: %v", rep.Public, len(stale), rep.Violations)
	}
	for _, v := range stale {
		if !strings.Contains(v.Detail, `the ledger "some"`) && !strings.Contains(v.Detail, `the ledger "few"`) && !strings.Contains(v.Detail, `the ledger "empty"`) {
			t.Errorf("public_stale for an outlet the liar did not touch: %s", v.Detail)
		}
	}
}

// TestFaultEligibleBuyersRefused: a server that refuses buyers of today's
// birth years as not eligible today (a rotation on the wrong day, a clock
// a day off in the ledger) gave rejections, the rules' own answer, and a
// PASS: a server refusing every sale passed. Here one sale in five of
// today's years is refused without being forwarded.
func TestFaultEligibleBuyersRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: a node, a proxy and a rush")
	}
	node, token := startTestNode(t)
	var n, refused atomic.Int64
	var seen sync.Map // txn_ids forwarded: their retries and replays are forwarded too
	l := &liar{sale: func(tok string, body []byte, fwd func([]byte) (int, []byte)) (int, []byte) {
		var s saleReq
		json.Unmarshal(body, &s)
		if _, again := seen.LoadOrStore(s.TxnID, true); again {
			return fwd(body)
		}
		if y := BirthYear(s.Buyer); (y%10 == 3 || y%10 == 8) && ValidID(s.Buyer) && n.Add(1)%5 == 0 {
			refused.Add(1)
			return http.StatusUnprocessableEntity, []byte(`{"error":{"code":"not_eligible_today","message":"not your day"}}`)
		}
		return fwd(body)
	}}
	rep := rushThrough(t, startLiar(t, node, l), token, nil)
	got := violationsOf(rep, "eligible_refused")
	if refused.Load() == 0 || len(got) == 0 || rep.Sales.EligibleRefused == 0 || rep.Sales.EligibleRefused > refused.Load() {
		t.Fatalf("%d refused by the proxy, eligible_refused %d, %d violations; all: %v", refused.Load(), rep.Sales.EligibleRefused, len(got), rep.Violations)
	}
}
