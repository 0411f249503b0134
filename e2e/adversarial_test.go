package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestAdversarial tries the real binary the way a hostile or merely unlucky
// network would (DESIGN.md §2 Isolation, §5): slow readers, floods of
// made-up tokens, thousands of streams from one address, forwarded
// addresses with ports, and a look for the admin token where it must not be.
// One server (the national demo, Wednesday morning) serves every part.
func TestAdversarial(t *testing.T) {
	dir := realRunDir(t, "starts the national demo")
	dbg := freeAddr(t)
	s := start(t, "--db", filepath.Join(dir, "pm.db"), "--clock", "2020-03-11T09:00:00+09:00",
		"--debug-addr", dbg, "--trust-proxy", "127.0.0.1")
	codes, tokens := setupOutlets(t, s, 4, 100_000)

	t.Run("SlowReaders", func(t *testing.T) { slowReaders(t, s) })
	t.Run("MadeUpTokens", func(t *testing.T) { madeUpTokens(t, s, tokens[codes[0]]) })
	t.Run("ReadFlood", func(t *testing.T) { readFlood(t, s, tokens[codes[0]]) })
	t.Run("StreamsFromOneAddress", func(t *testing.T) { streamsFromOneAddress(t, s, tokens[codes[1]]) })
	t.Run("ForwardedForWithPort", func(t *testing.T) { forwardedFor(t, s) })
	t.Run("NoTokenInCmdlineOrStatus", func(t *testing.T) { noTokenShown(t, s, dbg) })
	t.Run("InsiderFlood", func(t *testing.T) { insiderFlood(t, s, tokens[codes[2]], tokens[codes[3]]) })
}

// insiderFlood: a dishonest pharmacist with a valid token holds 1,000
// connections and fires a sale on each of them at once, again and again.
// Its requests wait in its own line: never more than the outlet share (32,
// the default) of them are admitted to the outlet gate, whose FIFO queue
// every other counter waits in, and another outlet's sales all succeed.
// Without the share the gate held the flood's hundreds (audit39c measured
// another counter's sale p99 ~10× under such a flood, BENCHMARKS.md).
// Its buyers and the probe's are born on days no other subtest uses.
func insiderFlood(t *testing.T, s *server, floodToken, probeToken string) {
	const conns, share, rounds = 1000, 32, 12
	flooder := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
	defer flooder.CloseIdleConnections()
	var answered, other, serial atomic.Int64
	sell := func() {
		n := serial.Add(1)
		body := fmt.Sprintf(`{"txn_id":"insider-%d","buyer":"%s","quantity":1}`, n, id("830317", "12"[n%2], int(n)))
		req, _ := http.NewRequest("POST", s.base+"/api/v2/outlet/sales", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+floodToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := flooder.Do(req)
		if err != nil {
			other.Add(1)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case 201, 422: // sold, or refused by the rules (stock, quota)
			answered.Add(1)
		default:
			other.Add(1)
		}
	}
	// The outlet gate's occupancy and the outlet lines' waiting requests,
	// sampled from /metrics while the flood runs.
	ctx, cancel := context.WithCancel(context.Background())
	var mostInGate, mostWaiting atomic.Int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for ctx.Err() == nil {
			resp, err := client.Get(s.base + "/metrics")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var inGate, waiting float64
			for _, line := range strings.Split(string(b), "\n") {
				var f float64
				if v, ok := strings.CutPrefix(line, `publicmask_http_in_flight{class="outlet"} `); ok {
					fmt.Sscan(v, &f)
					inGate += f
				} else if v, ok := strings.CutPrefix(line, `publicmask_http_queued{class="outlet"} `); ok {
					fmt.Sscan(v, &f)
					inGate += f
				} else if v, ok := strings.CutPrefix(line, "publicmask_http_outlet_line_waiting "); ok {
					fmt.Sscan(v, &f)
					waiting = f
				}
			}
			if int64(inGate) > mostInGate.Load() {
				mostInGate.Store(int64(inGate))
			}
			if int64(waiting) > mostWaiting.Load() {
				mostWaiting.Store(int64(waiting))
			}
		}
	}()
	// Bursts: every connection's sale at once, round after round, while
	// another counter sells one sale after another.
	probeDone := make(chan []time.Duration)
	go func() {
		probe := 0
		var ds []time.Duration
		for ctx.Err() == nil && probe < 200 {
			probe++
			t0 := time.Now()
			code, err := s.call("POST", "/api/v2/outlet/sales", probeToken,
				map[string]any{"txn_id": fmt.Sprintf("probe-%d", probe), "buyer": id("830316", "12"[probe%2], probe), "quantity": 1}, nil)
			if err != nil || code != 201 {
				t.Errorf("the other counter's sale %d: %d, %v; want 201", probe, code, err)
			}
			ds = append(ds, time.Since(t0))
			time.Sleep(5 * time.Millisecond)
		}
		probeDone <- ds
	}()
	for range rounds {
		var wg sync.WaitGroup
		for range conns {
			wg.Add(1)
			go func() { defer wg.Done(); sell() }()
		}
		wg.Wait()
	}
	cancel()
	probed := <-probeDone
	<-sampled
	t.Logf("insider flood, %d rounds of %d sales at once: %d answered (201/422), %d other; the outlet gate held at most %d, its line at most %d waiting; the other counter's %d sales median/p99 %v/%v",
		rounds, conns, answered.Load(), other.Load(), mostInGate.Load(), mostWaiting.Load(), len(probed), median(probed), p99(probed))
	if other.Load() != 0 {
		t.Errorf("%d flood requests failed or were answered other than 201 or 422 (their line holds 1,024, the wait 2 s)", other.Load())
	}
	if mostWaiting.Load() == 0 {
		t.Errorf("no flood request was seen waiting in its outlet's line: the flood never exceeded its share, so this test showed nothing")
	}
	// The flood's share, and the other counter's one sale in flight.
	if m := mostInGate.Load(); m > share+1 {
		t.Errorf("the outlet gate held %d requests at once during one token's flood; want at most its share %d and the other counter's sale", m, share)
	}
}

const seoulGeo = "/corona19-masks/v1/storesByGeo/json?lat=37.5665&lng=126.978&m=1000"

// latencies runs n sequential requests of do and returns their durations;
// any status other than want fails the test.
func latencies(t *testing.T, n, want int, do func() (int, error)) []time.Duration {
	t.Helper()
	out := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		code, err := do()
		d := time.Since(t0)
		if err != nil || code != want {
			t.Fatalf("status %d (%v), want %d", code, err, want)
		}
		out = append(out, d)
	}
	return out
}

func p99(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)*99+99)/100-1]
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func (s *server) get(path string) (int, error) {
	resp, err := client.Get(s.base + path)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// smallWindowDialer connects with a 4 KiB receive buffer, so that an answer
// the client does not read fills the path at once and the server's write
// blocks, as on a slow mobile link.
var smallWindowDialer = &net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
	var serr error
	c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	return serr
}}

// slowReaders: 64 connections pipeline the largest pages and read their
// answers one byte at a time. An ordinary client's storesByGeo still gets
// 200 with p99 ≤ 100 ms, and the counter page loads.
func slowReaders(t *testing.T, s *server) {
	host := strings.TrimPrefix(s.base, "http://")
	unloaded := latencies(t, 300, 200, func() (int, error) { return s.get(seoulGeo) })

	ctx, cancel := context.WithCancel(context.Background())
	var readers sync.WaitGroup
	var got atomic.Int64
	const conns, pipelined = 64, 3
	for range conns {
		c, err := smallWindowDialer.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		for range pipelined {
			fmt.Fprintf(c, "GET /corona19-masks/v1/stores/json?perPage=5000 HTTP/1.1\r\nHost: %s\r\n\r\n", host)
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			defer c.Close()
			b := make([]byte, 1)
			for ctx.Err() == nil {
				c.SetReadDeadline(time.Now().Add(time.Second))
				if n, err := c.Read(b); n == 1 {
					got.Add(1)
				} else if err != nil && !os.IsTimeout(err) {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	// Wait until every slow reader has its first byte: all 64 answers are
	// being written.
	waitUntil(t, 10*time.Second, "the slow readers' answers to start", func() bool { return got.Load() >= conns })

	geo := func() (int, error) { return s.get(seoulGeo) }
	loaded := latencies(t, 300, 200, geo)
	if p99(loaded) > 100*time.Millisecond {
		// One stall of the shared machine (CI beside other work: a core
		// taken for 150 ms) puts 3 of 300 requests over the bound; readers
		// that block the server would do it again, so measure once more and
		// judge the better of the two.
		t.Logf("storesByGeo p99 %v under slow readers: measuring again", p99(loaded))
		if again := latencies(t, 300, 200, geo); p99(again) < p99(loaded) {
			loaded = again
		}
	}
	counter := latencies(t, 20, 200, func() (int, error) { return s.get("/outlet") })
	inFlight := s.metric(t, `publicmask_http_in_flight{class="public"}`)
	cancel()
	readers.Wait()
	read := got.Load()
	total := int64(conns * pipelined * 760_000)
	if read >= total/2 {
		t.Fatalf("the slow readers read %d bytes: they were not slow", read)
	}
	t.Logf("storesByGeo (Seoul, m=1000) unloaded: median %v p99 %v; with %d slow readers (%d pipelined 5000-row pages each, 1 byte per 10 ms): median %v p99 %v; /outlet p99 %v; public in flight at the end %v",
		median(unloaded), p99(unloaded), conns, pipelined, median(loaded), p99(loaded), p99(counter), inFlight)
	if p99(loaded) > 100*time.Millisecond {
		t.Errorf("storesByGeo p99 %v under slow readers, want ≤ 100 ms", p99(loaded))
	}
}

// madeUpTokens: 5,000 requests with made-up tokens cost little: most are
// refused (429) before any store read, and a valid outlet's sale p99 stays
// within 2x unloaded (or 50 ms, DESIGN.md §5).
func madeUpTokens(t *testing.T, s *server, token string) {
	serial := 0
	sell := func() (int, error) {
		serial++
		return s.call("POST", "/api/v2/outlet/sales", token,
			map[string]any{"txn_id": fmt.Sprintf("tok-%d", serial), "buyer": born83(50_000 + serial), "quantity": 1}, nil)
	}
	// flood sends 5,000 made-up tokens from 32 connections; it returns
	// how long they took and the count of each status (-1: no answer).
	flood := func() (time.Duration, func(int) int64) {
		var wg sync.WaitGroup
		var counts sync.Map
		jobs := make(chan int)
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					code, err := s.call("GET", "/api/v2/outlet", fmt.Sprintf("pm_o_madeup%06d", i), nil, nil)
					if err != nil {
						code = -1
					}
					n, _ := counts.LoadOrStore(code, new(atomic.Int64))
					n.(*atomic.Int64).Add(1)
				}
			}()
		}
		t0 := time.Now()
		for i := range 5000 {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		return time.Since(t0), func(code int) int64 {
			if n, ok := counts.Load(code); ok {
				return n.(*atomic.Int64).Load()
			}
			return 0
		}
	}
	unloaded := latencies(t, 200, 201, sell)
	took, count := flood()
	after := latencies(t, 200, 201, sell)

	t.Logf("5,000 made-up tokens in %v: %d × 401, %d × 429; valid sale unloaded median %v p99 %v, after the flood median %v p99 %v",
		took, count(401), count(429), median(unloaded), p99(unloaded), median(after), p99(after))
	if count(401)+count(429) != 5000 {
		t.Errorf("made-up tokens answered other than 401/429: 401=%d 429=%d", count(401), count(429))
	}
	// The per-client limit of failed look-ups (httpapi's defaults: a burst
	// of 100, then 10 a second) admits at most its burst and its refill over
	// the flood: each look-up takes its token before it runs, however many
	// run at once. The flood's length is not fixed: a refused token first
	// waits for the node's token catch-up (ledger.catchUp, 50 ms or more
	// apart), which slows the flood to ~7 s.
	if limit := 100 + int64(10*took.Seconds()) + 1; count(401) > limit {
		t.Errorf("%d made-up tokens were looked up in the store in %v; the per-client limit allows %d", count(401), took, limit)
	}
	if count(401) > 5000/10 {
		t.Errorf("%d of 5,000 made-up tokens were looked up in the store; the per-client limit should refuse most", count(401))
	}
	// The flood is in the metrics, and the log has a few sampled lines, not thousands.
	if n := s.metric(t, `publicmask_http_rate_limited_total{class="outlet"}`); n < float64(count(429)) {
		t.Errorf("rate_limited_total{outlet} = %v, want ≥ %d", n, count(429))
	}
	if n := strings.Count(s.Logs(), "madeup"); n != 0 {
		t.Errorf("made-up tokens in the log %d times", n)
	}
	if n := strings.Count(s.Logs(), `"status":401`) + strings.Count(s.Logs(), `"status":429`); n > 0 {
		t.Errorf("%d refusals logged one by one", n)
	}
	if n := strings.Count(s.Logs(), `"refusal":"rate_limited"`); n < 1 || float64(n) > took.Seconds()+2 {
		t.Errorf("%d sampled rate_limited lines over %v", n, took)
	}

	// A valid token's sales right after the flood have the tail they had
	// before it. The p99 of 200 sales is the second slowest, and on a busy
	// machine (the suite beside other processes) one preemption moves it;
	// a flood that slowed valid sales (a limit that punished the client's
	// valid token, a backlog left behind) would do so each time. So a
	// round that misses is measured again from the start, baseline, flood
	// and the sales after it, and the test fails only if three rounds in a
	// row miss.
	for round := 1; ; round++ {
		lim := max(2*p99(unloaded), 50*time.Millisecond)
		if p99(after) <= lim {
			break
		}
		if round == 3 {
			t.Errorf("sale p99 after the flood %v, want ≤ %v (in each of %d rounds)", p99(after), lim, round)
			break
		}
		t.Logf("round %d: sale p99 after the flood %v > %v (unloaded %v); measuring again", round, p99(after), lim, p99(unloaded))
		unloaded = latencies(t, 200, 201, sell)
		flood()
		after = latencies(t, 200, 201, sell)
	}
}

// streamRequest opens a stream from the local address laddr (127.0.0.x) with
// an optional X-Forwarded-For; it returns the status and, for a 200, the
// open response.
func streamRequest(ctx context.Context, s *server, laddr, xff string) (int, *http.Response, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(laddr)}}
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	req, _ := http.NewRequestWithContext(ctx, "GET", s.base+"/api/v2/stream?lat=37.6254&lng=127.0164&m=2000", nil)
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	if resp.StatusCode != 200 {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil, nil
	}
	return 200, resp, nil
}

// streamsFromOneAddress: 1,000 streams from one address get 64 streams and
// 936 × 429; a client at another address still gets its stream and its
// events, and public reads still answer.
func streamsFromOneAddress(t *testing.T, s *server, token string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ok, limited, other atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []*http.Response
	for range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, resp, err := streamRequest(ctx, s, "127.0.0.3", "")
			switch {
			case err != nil:
				other.Add(1)
			case code == 200:
				ok.Add(1)
				mu.Lock()
				open = append(open, resp)
				mu.Unlock()
			case code == 429:
				limited.Add(1)
			default:
				other.Add(1)
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, r := range open {
			r.Body.Close()
		}
	}()
	t.Logf("1,000 streams from one address: %d open, %d × 429, %d other", ok.Load(), limited.Load(), other.Load())
	if ok.Load() != 64 || limited.Load() != 936 {
		t.Fatalf("1,000 streams from one address: %d open, %d × 429, %d other; want 64 and 936", ok.Load(), limited.Load(), other.Load())
	}
	// Another address: its stream opens and carries a sale's change.
	code, resp, err := streamRequest(ctx, s, "127.0.0.4", "")
	if err != nil || code != 200 {
		t.Fatalf("stream from another address: %d %v", code, err)
	}
	defer resp.Body.Close()
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "event: outlet") {
				events <- sc.Text()
			}
		}
	}()
	s.mustCall("POST", "/api/v2/outlet/sales", token, map[string]any{"txn_id": "stream-1", "buyer": born83(90_001), "quantity": 1}, nil, 201)
	select {
	case <-events:
	case <-time.After(5 * time.Second):
		t.Fatal("the other client's stream carried no event for a sale inside its circle")
	}
	if code, err := s.get(seoulGeo); err != nil || code != 200 {
		t.Fatalf("storesByGeo with 64 streams open: %d %v", code, err)
	}
}

// forwardedFor: behind a trusted proxy (127.0.0.1), X-Forwarded-For entries
// with a port or brackets key the real client: 64 streams for
// 203.0.113.9:4711, then 429 for that client only; the IPv6 client is keyed
// by its /64.
func forwardedFor(t *testing.T, s *server) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var open []*http.Response
	defer func() {
		for _, r := range open {
			r.Body.Close()
		}
	}()
	fill := func(xff func(i int) string) {
		t.Helper()
		for i := range 64 {
			code, resp, err := streamRequest(ctx, s, "127.0.0.1", xff(i))
			if err != nil || code != 200 {
				t.Fatalf("stream %d for %s: %d %v", i, xff(i), code, err)
			}
			open = append(open, resp)
		}
	}
	fill(func(i int) string { return fmt.Sprintf("203.0.113.9:%d", 4000+i) })
	if code, _, _ := streamRequest(ctx, s, "127.0.0.1", "203.0.113.9:4711"); code != 429 {
		t.Fatalf("65th stream of 203.0.113.9:4711: %d, want 429", code)
	}
	if code, _, _ := streamRequest(ctx, s, "127.0.0.1", "198.51.100.1, 203.0.113.9"); code != 429 {
		t.Fatalf("the same client without a port: %d, want 429", code)
	}
	code, resp, err := streamRequest(ctx, s, "127.0.0.1", "203.0.113.10:4711")
	if err != nil || code != 200 {
		t.Fatalf("another forwarded client: %d %v", code, err)
	}
	open = append(open, resp)
	fill(func(i int) string { return fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1) })
	if code, _, _ := streamRequest(ctx, s, "127.0.0.1", "[2001:db8:1:2:ffff::1]:443"); code != 429 {
		t.Fatalf("a 65th address of one IPv6 /64: %d, want 429", code)
	}
	// An untrusted peer cannot pick its key with the header.
	if code, _, _ := streamRequest(ctx, s, "127.0.0.5", "198.51.100.99"); code != 200 {
		t.Fatalf("untrusted peer: %d", code)
	}
}

// noTokenShown: pprof's command line holds no admin token (it was given
// with --admin-token), and /api/v2/status shows host names only to the admin.
func noTokenShown(t *testing.T, s *server, dbg string) {
	resp, err := http.Get("http://" + dbg + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(b), adminToken) || !strings.Contains(string(b), "--admin-token\x00REDACTED") {
		t.Fatalf("cmdline: %q", b)
	}
	host, _ := os.Hostname()
	var anon, admin struct {
		Nodes []map[string]any `json:"nodes"`
	}
	raw := func(token string, out any) string {
		code, _, b, err := s.send("GET", "/api/v2/status", token, nil)
		if err != nil {
			t.Fatal(err)
		}
		if code != 200 {
			t.Fatalf("status: %d %s", code, b)
		}
		json.Unmarshal(b, out)
		return string(b)
	}
	if body := raw("", &anon); strings.Contains(body, host) || len(anon.Nodes) != 1 || anon.Nodes[0]["node"] != nil {
		t.Errorf("anonymous status shows the host: %s", body)
	}
	if body := raw(adminToken, &admin); !strings.Contains(body, host) {
		t.Errorf("admin status lacks the host: %s", body)
	}
	if strings.Contains(s.Logs(), adminToken) {
		t.Error("the admin token is in the output")
	}
}

// TestAdminTokenFile: --admin-token-file wins over --admin-token, and the
// token in the file is never printed.
func TestAdminTokenFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "admin-token")
	const fromFile = "token-from-a-file-0123456789"
	if err := os.WriteFile(file, []byte(fromFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, "--db", filepath.Join(dir, "pm.db"), "--seed", "none", "--admin-token-file", file)
	s.mustCall("GET", "/api/v2/admin/conflicts", fromFile, nil, nil, 200)
	s.mustCall("GET", "/api/v2/admin/conflicts", adminToken, nil, nil, 401)
	if strings.Contains(s.Logs(), fromFile) {
		t.Error("the token from the file was printed")
	}
	// A file readable by others is refused.
	os.Chmod(file, 0o644)
	out, err := exec.Command(binary(t), "serve", "--addr", freeAddr(t), "--db", filepath.Join(dir, "pm2.db"), "--seed", "none", "--admin-token-file", file).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "readable by others") {
		t.Fatalf("a world-readable token file: %v\n%s", err, out)
	}
}

// readFlood: 128 keep-alive connections read storesByGeo as fast as they
// can, first with no sale for over a second (the CPU tokens of
// httpapi/cputoken.go stay disengaged: no read waits for one), then while
// one counter sells (the flood's requests wait for tokens instead of all
// competing with the sales for the cores); every read is answered (200, or
// a fast 503 if the public gate sheds it) and every sale is acknowledged.
func readFlood(t *testing.T, s *server, token string) {
	before := s.metric(t, "publicmask_http_cpu_token_waits_total")
	timeoutsBefore := s.metric(t, "publicmask_http_cpu_token_timeouts_total")
	serial := 0
	sell := func() (int, error) {
		serial++
		return s.call("POST", "/api/v2/outlet/sales", token,
			map[string]any{"txn_id": fmt.Sprintf("flood-%d", serial), "buyer": born83(70_000 + serial), "quantity": 1}, nil)
	}
	unloaded := latencies(t, 100, 201, sell)
	time.Sleep(1200 * time.Millisecond) // no sale served for over a second
	idleBefore := s.metric(t, "publicmask_http_cpu_token_waits_total")

	const conns = 128
	flooder := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
	defer flooder.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var ok, shed, other atomic.Int64
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ctx.Err() == nil; j++ {
				url := fmt.Sprintf("%s/corona19-masks/v1/storesByGeo/json?lat=%.4f&lng=%.4f&m=1000", s.base, 37.50+float64((i*31+j)%100)*0.001, 126.92+float64((i*17+j)%140)*0.001)
				resp, err := flooder.Get(url)
				if err != nil {
					if ctx.Err() == nil {
						other.Add(1)
					}
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
				case 503: // shed by the public gate: allowed (§2), counted
					shed.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	waitUntil(t, 10*time.Second, "the flood to run", func() bool { return ok.Load() >= 4*conns })
	if w := s.metric(t, "publicmask_http_cpu_token_waits_total") - idleBefore; w != 0 {
		t.Errorf("%v public requests waited for a CPU token with no sale served", w)
	}
	flooded := latencies(t, 200, 201, sell)
	cancel()
	wg.Wait()

	waits := s.metric(t, "publicmask_http_cpu_token_waits_total") - before
	timeouts := s.metric(t, "publicmask_http_cpu_token_timeouts_total") - timeoutsBefore
	t.Logf("flood of %d connections: %d × 200, %d × 503, %d other; %v token waits, %v timeouts; sale median/p99 unloaded %v/%v, under the flood %v/%v",
		conns, ok.Load(), shed.Load(), other.Load(), waits, timeouts, median(unloaded), p99(unloaded), median(flooded), p99(flooded))
	if other.Load() != 0 {
		t.Errorf("%d flood requests failed or got an answer other than 200 or 503", other.Load())
	}
	if waits == 0 {
		t.Error("no public request waited for a CPU token under a flood of 128 connections")
	}
}

// metric reads one sample from the server's /metrics.
func (s *server) metric(t *testing.T, series string) float64 {
	t.Helper()
	b := s.metrics(t)
	for _, line := range strings.Split(b, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}
