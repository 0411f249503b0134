package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgProxy forwards TCP connections to PostgreSQL and can stop forwarding
// (a network partition: connections stay open, nothing arrives).
type pgProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
}

func startPgProxy(t *testing.T, target string) *pgProxy {
	t.Helper()
	ln, err := net.Listen("tcp", freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{ln: ln, target: target}
	p.cond = sync.NewCond(&p.mu)
	var conns sync.Map
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			go func() {
				defer conns.Delete(c)
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				done := make(chan struct{}, 2)
				go func() { p.copy(u, c); done <- struct{}{} }()
				go func() { p.copy(c, u); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	t.Cleanup(func() {
		p.set(false)
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
	})
	return p
}

// copy forwards src to dst, holding each chunk while the proxy is frozen.
func (p *pgProxy) copy(dst io.WriteCloser, src io.Reader) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.frozen {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *pgProxy) set(frozen bool) {
	p.mu.Lock()
	p.frozen = frozen
	p.mu.Unlock()
	p.cond.Broadcast()
}

// viaProxy is dsn with its host and port replaced by the proxy's.
func viaProxy(t *testing.T, dsn string, p *pgProxy) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.ln.Addr().String()
	return u.String()
}

// pgAnswer is one answer of a node, as the contract's error shape reads it.
type pgAnswer struct {
	code       int
	errCode    string
	retryAfter string
	ctype      string
	took       time.Duration
	raw        string
}

func (a pgAnswer) String() string {
	return fmt.Sprintf("%d %s (Retry-After %q, %s, after %v): %.200s", a.code, a.errCode, a.retryAfter, a.ctype, a.took.Round(time.Millisecond), a.raw)
}

func askPg(s *server, timeout time.Duration, method, path, token string, body any) pgAnswer {
	t0 := time.Now()
	code, h, raw, err := s.sendWithin(timeout, method, path, token, body)
	a := pgAnswer{code: code, took: time.Since(t0), raw: string(raw)}
	if err != nil {
		a.raw = err.Error()
		return a
	}
	var e errBody
	if json.Unmarshal(raw, &e) == nil {
		a.errCode = e.Error.Code
	}
	a.retryAfter, a.ctype = h.Get("Retry-After"), h.Get("Content-Type")
	return a
}

// contractUnavailable: 503 store_unavailable, JSON, with Retry-After.
func (a pgAnswer) contractUnavailable() bool {
	return a.code == 503 && a.errCode == "store_unavailable" && a.retryAfter != "" && strings.HasPrefix(a.ctype, "application/json")
}

// TestPostgresFailures drives two ledger nodes and a public node on
// PostgreSQL through what a production database does to them (DESIGN.md
// §2, §4, §4.5, §5): its connections killed mid-transaction
// (pg_terminate_backend) while both nodes sell to the same buyers, the
// network to it cut (a partition: nothing arrives, nothing is refused),
// and the server stopped. Every answer is a sale, a refusal or 503
// store_unavailable as JSON with Retry-After; /readyz of the ledger nodes
// says 503 while the store is away and 200 when it is back, the public node
// keeps serving; the nodes recover without a restart; every acknowledged
// sale is there, nobody has more than the quota, and verify is ok.
func TestPostgresFailures(t *testing.T) {
	skipShort(t, "stops a PostgreSQL cluster under load")
	direct, ctl := pgCluster(t)
	proxy := startPgProxy(t, mustHost(t, direct))
	dsn := viaProxy(t, direct, proxy)
	common := []string{"--db", dsn, "--secret-file", secretFile(t, t.TempDir()), "--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	nodes := []*server{
		start(t, append([]string{"--role", "ledger"}, common...)...),
		start(t, append([]string{"--role", "ledger"}, common...)...),
	}
	codes, tokens := setupOutlets(t, nodes[0], 4, 100000)
	pub := start(t, append([]string{"--role", "public"}, common...)...)

	var mu sync.Mutex
	var acks []acked
	var unknown []acked // answered 503: may or may not exist
	bad := map[string]int{}
	var serial int
	// load runs clients on both nodes that sell to the same buyers (each
	// buyer tried once through each node, at about the same moment) until
	// stop is closed.
	load := func(phase string, stop chan struct{}) *sync.WaitGroup {
		base := map[string]int{"kill": 0, "part": 40000}[phase]
		var wg sync.WaitGroup
		for n, s := range nodes {
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						c := codes[(w+i)%len(codes)]
						a := acked{outlet: c, token: tokens[c], txn: fmt.Sprintf("%s-%d-%d-%d", phase, n, w, i), buyer: born83(base + w*10000 + i%10000), qty: 1 + i%2}
						got := askPg(s, 30*time.Second, "POST", "/api/v2/outlet/sales", a.token, a.body())
						mu.Lock()
						serial++
						switch {
						case got.code == 201:
							var r saleReceipt
							json.Unmarshal([]byte(got.raw), &r)
							a.saleID = r.SaleID
							acks = append(acks, a)
						case got.code == 422 && got.errCode == "quota_exceeded":
						case got.contractUnavailable():
							unknown = append(unknown, a)
						default:
							key := fmt.Sprintf("%d %s", got.code, got.errCode)
							if bad[key] == 0 {
								t.Logf("%s: sale on node %d answered %v", phase, n, got)
							}
							bad[key]++
							unknown = append(unknown, a)
						}
						mu.Unlock()
						if got.code != 201 && got.code != 422 {
							time.Sleep(50 * time.Millisecond)
						}
					}
				}()
			}
		}
		return &wg
	}

	// 1. Connections killed mid-transaction, for 3 s.
	ctx := context.Background()
	ctlConn, err := pgx.Connect(ctx, direct)
	if err != nil {
		t.Fatal(err)
	}
	defer ctlConn.Close(ctx)
	stop := make(chan struct{})
	wg := load("kill", stop)
	killed := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond)
		var n int
		if err := ctlConn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = 'publicmask' AND pid <> pg_backend_pid() AND state <> 'idle'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		killed += n
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	mu.Lock()
	t.Logf("killing backends: %d terminated mid-statement; %d sales acknowledged, %d answered 503 or otherwise, %d answers in all; other answers %v", killed, len(acks), len(unknown), serial, bad)
	mu.Unlock()
	if killed == 0 {
		t.Fatal("no backend was terminated while busy: the phase tested nothing")
	}
	for k, n := range bad {
		t.Errorf("killing backends: %d sales answered %s (want 201, 422 quota_exceeded or 503 store_unavailable with Retry-After)", n, k)
	}
	clear(bad)
	for i, s := range nodes {
		waitUntil(t, 10*time.Second, fmt.Sprintf("node %d ready after the killed connections", i), func() bool {
			code, err := s.get("/readyz")
			return err == nil && code == 200
		})
	}

	// 2. A partition: the proxy holds everything for 6 s.
	stop = make(chan struct{})
	wg = load("part", stop)
	time.Sleep(500 * time.Millisecond)
	proxy.set(true)
	cut := time.Now()
	time.Sleep(300 * time.Millisecond)
	type probe struct {
		name string
		s    *server
		path string
	}
	var pmu sync.Mutex
	partAnswers := map[string]pgAnswer{}
	var pwg sync.WaitGroup
	for _, p := range []probe{{"ledger /readyz", nodes[0], "/readyz"}, {"public /readyz", pub, "/readyz"}, {"public v1", pub, "/corona19-masks/v1/storesByGeo/json?lat=37.62&lng=127.0164&m=500"}} {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			a := askPg(p.s, 30*time.Second, "GET", p.path, "", nil)
			pmu.Lock()
			partAnswers[p.name] = a
			pmu.Unlock()
		}()
	}
	pwg.Add(1)
	go func() {
		defer pwg.Done()
		a := askPg(nodes[1], 30*time.Second, "POST", "/api/v2/outlet/sales", tokens[codes[0]], map[string]any{"txn_id": "part-probe", "buyer": born83(99001), "quantity": 1})
		pmu.Lock()
		partAnswers["sale"] = a
		pmu.Unlock()
	}()
	time.Sleep(6 * time.Second)
	proxy.set(false)
	healed := time.Now()
	pwg.Wait()
	close(stop)
	wg.Wait()
	for name, a := range partAnswers {
		t.Logf("partition: %s answered %v", name, a)
	}
	if a := partAnswers["ledger /readyz"]; !a.contractUnavailable() || a.took > 3*time.Second {
		t.Errorf("partition: ledger /readyz %v, want 503 store_unavailable within 3 s", a)
	}
	if a := partAnswers["public /readyz"]; a.code != 200 {
		t.Errorf("partition: public /readyz %v, want 200 (it serves its snapshot)", a)
	}
	if a := partAnswers["public v1"]; a.code != 200 || a.took > time.Second {
		t.Errorf("partition: public v1 read %v, want 200 at once", a)
	}
	if a := partAnswers["sale"]; a.code != 201 && !a.contractUnavailable() {
		t.Errorf("partition: a sale answered %v", a)
	}
	for k, n := range bad {
		t.Errorf("partition: %d sales answered %s", n, k)
	}
	clear(bad)
	for i, s := range nodes {
		waitUntil(t, 30*time.Second, fmt.Sprintf("node %d ready after the partition", i), func() bool {
			code, err := s.get("/readyz")
			return err == nil && code == 200
		})
	}
	t.Logf("partition of %v; nodes ready %v after it healed", healed.Sub(cut).Round(time.Millisecond), time.Since(healed).Round(time.Millisecond))

	// 3. The server stopped: every route that needs the store answers 503
	// store_unavailable with Retry-After; public reads go on.
	ctl("stop")
	sale := map[string]any{"txn_id": "down-1", "buyer": born83(99002), "quantity": 1}
	ot := tokens[codes[1]]
	for _, p := range []struct {
		name, method, path, token string
		body                      any
		want                      int // 0: 503 store_unavailable
	}{
		{"ledger /readyz", "GET", "/readyz", "", nil, 0},
		{"ledger /healthz", "GET", "/healthz", "", nil, 200},
		{"sale", "POST", "/api/v2/outlet/sales", ot, sale, 0},
		{"sale again", "POST", "/api/v2/outlet/sales", ot, sale, 0},
		{"check", "POST", "/api/v2/outlet/check", ot, map[string]any{"buyer": born83(99002)}, 0},
		{"outlet", "GET", "/api/v2/outlet", ot, nil, 0},
		{"recent sales", "GET", "/api/v2/outlet/sales", ot, nil, 0},
		{"delivery", "POST", "/api/v2/outlet/deliveries", ot, map[string]any{"txn_id": "down-d", "quantity": 5}, 0},
		{"count", "POST", "/api/v2/outlet/stock", ot, map[string]any{"txn_id": "down-c", "count": 5}, 0},
		{"suspend", "POST", "/api/v2/outlet/suspend", ot, nil, 0},
		{"cancel", "POST", "/api/v2/outlet/sales/s2222222222222222222222/cancel", ot, nil, 0},
		{"verify", "GET", "/api/v2/admin/verify", adminToken, nil, 0},
		{"conflicts", "GET", "/api/v2/admin/conflicts", adminToken, nil, 0},
		{"token", "POST", "/api/v2/admin/tokens", adminToken, map[string]any{"role": "distributor"}, 0},
		{"import", "PUT", "/api/v2/admin/outlets", adminToken, "code,name,addr,type,lat,lng\n91999999,x,서울특별시 강북구 솔매로 1 (미아동),01,37.62,127.0164\n", 0},
		{"unknown token", "GET", "/api/v2/outlet", "pm_o_unknowntokenunknowntokenunknown", nil, 0},
	} {
		a := askPg(nodes[0], 30*time.Second, p.method, p.path, p.token, p.body)
		switch {
		case p.want == 0 && !a.contractUnavailable():
			t.Errorf("PostgreSQL stopped: %s answered %v, want 503 store_unavailable (JSON, Retry-After)", p.name, a)
		case p.want != 0 && a.code != p.want:
			t.Errorf("PostgreSQL stopped: %s answered %v, want %d", p.name, a, p.want)
		case a.took > 5*time.Second:
			t.Errorf("PostgreSQL stopped: %s took %v", p.name, a.took)
		default:
			t.Logf("PostgreSQL stopped: %s: %v", p.name, a)
		}
	}
	for _, path := range []string{"/readyz", "/corona19-masks/v1/storesByGeo/json?lat=37.62&lng=127.0164&m=500", "/api/v2/outlets/" + codes[0]} {
		if a := askPg(pub, 10*time.Second, "GET", path, "", nil); a.code != 200 {
			t.Errorf("PostgreSQL stopped: public node %s answered %v, want 200", path, a)
		}
	}
	ctl("start")
	up := time.Now()
	for i, s := range nodes {
		waitUntil(t, 30*time.Second, fmt.Sprintf("node %d ready after the restart", i), func() bool {
			code, err := s.get("/readyz")
			return err == nil && code == 200
		})
	}
	t.Logf("nodes ready %v after PostgreSQL started again", time.Since(up).Round(time.Millisecond))
	if t.Failed() {
		t.FailNow()
	}

	// Every acknowledged sale is there (half replayed on each node), each
	// unknown one gives one answer, nobody has more than the quota, and
	// verify is ok.
	var halves [2][]acked
	for i, a := range acks {
		halves[i%2] = append(halves[i%2], a)
	}
	replayAll(t, nodes[0], halves[0])
	replayAll(t, nodes[1], halves[1])
	sales := append([]acked(nil), acks...)
	for i, a := range unknown {
		got := askPg(nodes[i%2], 10*time.Second, "POST", "/api/v2/outlet/sales", a.token, a.body())
		switch {
		case got.code == 200 || got.code == 201:
			var r saleReceipt
			json.Unmarshal([]byte(got.raw), &r)
			a.saleID = r.SaleID
			sales = append(sales, a)
		case got.code == 422 && got.errCode == "quota_exceeded":
		default:
			t.Errorf("txn %s retried: %v", a.txn, got)
		}
	}
	bought, times := map[string]int{}, map[string]int{}
	for _, a := range sales {
		bought[a.buyer] += a.qty
		times[a.buyer]++
		if bought[a.buyer] > 2 || times[a.buyer] > 1 {
			t.Errorf("buyer of txn %s has %d masks in %d purchases this week", a.txn, bought[a.buyer], times[a.buyer])
		}
	}
	for i, s := range nodes {
		s.mustVerify(t, fmt.Sprintf("on node %d after the failures", i))
	}
	t.Logf("%d acknowledged sales replayed; %d unknown answers retried", len(acks), len(unknown))

	// The public node, whose connections were killed and whose database
	// went away, follows the store again: a count made now shows.
	nodes[1].mustCall("POST", "/api/v2/outlet/stock", tokens[codes[0]], map[string]any{"txn_id": "after-all", "count": 50}, nil, 201)
	waitUntil(t, 5*time.Second, "the public node to show the count made after the failures", func() bool {
		var o struct {
			RemainStat string `json:"remain_stat"`
		}
		code, err := pub.call("GET", "/api/v2/outlets/"+codes[0], "", nil, &o)
		return err == nil && code == 200 && o.RemainStat == "some"
	})
}

func mustHost(t *testing.T, dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}
