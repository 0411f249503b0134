package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/publicmask/publicmask/internal/procstat"
)

// TestManyStreams measures a public node holding hundreds of live streams
// (DESIGN.md §2: thousands of streams cost only their own connections;
// §6.5: a cap per client address): the per-address cap and its error, and,
// in phases of sales through two PostgreSQL ledger nodes, the public node's
// CPU and RSS with no stream, with PUBLICMASK_STREAMS (default 500)
// reading streams spread over 127.0.0.0/8, with 50 more that never read,
// and with none again; and the lag from each sale's acknowledgement to its
// event on every reading stream. It fails only on the cap or on an event
// that never comes: the figures are for BENCHMARKS.md.
func TestManyStreams(t *testing.T) {
	skipShort(t, "runs three real processes and hundreds of streams")
	nStreams := 500
	if v, err := strconv.Atoi(os.Getenv("PUBLICMASK_STREAMS")); err == nil && v > 0 {
		nStreams = v
	}
	dsn := pgDSN(t)
	common := []string{"--db", dsn, "--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	secret := secretFile(t, t.TempDir())
	l1 := start(t, append([]string{"--role", "ledger", "--secret-file", secret}, common...)...)
	l2 := start(t, append([]string{"--role", "ledger", "--secret-file", secret}, common...)...)
	pub := start(t, append([]string{"--role", "public", "--streams-per-client", "64"}, common...)...)
	const k = 20
	var rows, codes []string
	for i := range k {
		code := fmt.Sprintf("990000%02d", i)
		codes = append(codes, code)
		rows = append(rows, liveRow(code, "01", liveLat+float64(i)*0.0002))
	}
	l1.mustCall("PUT", "/api/v2/admin/outlets", adminToken, liveCSV(rows...), nil, 200)
	toks := map[string]string{}
	for _, c := range codes {
		toks[c] = l1.outletToken(adminToken, c)
		l1.mustCall("POST", "/api/v2/outlet/deliveries", toks[c], map[string]any{"txn_id": "open", "quantity": 5000}, nil, 201)
	}
	streamURL := fmt.Sprintf("%s/api/v2/stream?lat=%v&lng=%v&m=1000", pub.base, liveLat, liveLng)
	from := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxConnsPerHost: 0, DisableCompression: true}}
	}

	// The cap: 64 streams from one address, the 65th is refused.
	capCtx, capCancel := context.WithCancel(context.Background())
	one := from("127.0.0.2")
	var held []*http.Response
	for i := range 65 {
		req, _ := http.NewRequestWithContext(capCtx, "GET", streamURL, nil)
		resp, err := one.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if i < 64 {
			if resp.StatusCode != 200 {
				t.Fatalf("stream %d from one address: %d", i+1, resp.StatusCode)
			}
			held = append(held, resp)
			continue
		}
		body := make([]byte, 4096)
		n, _ := resp.Body.Read(body)
		resp.Body.Close()
		if resp.StatusCode != 429 || !strings.Contains(string(body[:n]), `"rate_limited"`) {
			t.Errorf("the 65th stream from one address: %d %s, want 429 rate_limited", resp.StatusCode, body[:n])
		}
	}
	for _, r := range held {
		r.Body.Close()
	}
	capCancel()

	pid := strconv.Itoa(pub.cmd.Process.Pid)
	rss := func() float64 {
		b, _ := os.ReadFile("/proc/" + pid + "/status")
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
				return kb / 1024
			}
		}
		return 0
	}

	type arrival struct {
		code string
		at   time.Time
	}
	type reader struct {
		mu  sync.Mutex
		got []arrival
	}
	var readers []*reader
	var stalled []net.Conn
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	openReaders := func() {
		for i := range nStreams {
			c := from(fmt.Sprintf("127.0.%d.%d", 10+i/50, 1+i%50))
			req, _ := http.NewRequestWithContext(ctx, "GET", streamURL, nil)
			resp, err := c.Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("stream %d: %v %v", i, err, resp)
			}
			r := &reader{}
			readers = append(readers, r)
			wg.Go(func() {
				defer resp.Body.Close()
				sc := bufio.NewScanner(resp.Body)
				for sc.Scan() {
					if l := sc.Text(); strings.HasPrefix(l, `data: {"code":"`) {
						r.mu.Lock()
						r.got = append(r.got, arrival{l[15:23], time.Now()})
						r.mu.Unlock()
					}
				}
			})
		}
	}
	openStalled := func() {
		for i := range 50 {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.99.%d", 1+i))}}
			c, err := d.Dial("tcp", strings.TrimPrefix(pub.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", strings.TrimPrefix(streamURL, pub.base))
			stalled = append(stalled, c)
		}
	}
	type sale struct {
		code       string
		sent, ackd time.Time
	}
	seq := 0
	sell := func(d time.Duration) []sale {
		var out []sale
		tick := time.NewTicker(40 * time.Millisecond) // 25 sales/s
		defer tick.Stop()
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			<-tick.C
			code := codes[seq%k]
			sent := time.Now()
			[]*server{l1, l2}[seq%2].mustCall("POST", "/api/v2/outlet/sales", toks[code], map[string]any{"txn_id": fmt.Sprintf("m%d", seq), "buyer": born83(10000 + seq), "quantity": 1}, nil, 201)
			out = append(out, sale{code, sent, time.Now()})
			seq++
		}
		return out
	}
	type phase struct {
		name      string
		cpu, rss  float64
		lags      []time.Duration
		missing   int
		dropped   string
		loadStart string
	}
	dropped := func() string {
		for _, l := range strings.Split(pub.metrics(t), "\n") {
			if strings.HasPrefix(l, "publicmask_stream_subscribers_dropped_total") {
				return strings.Fields(l)[1]
			}
		}
		return "?"
	}
	run := func(name string) phase {
		la, _ := os.ReadFile("/proc/loadavg")
		for _, r := range readers {
			r.mu.Lock()
			r.got = r.got[:0]
			r.mu.Unlock()
		}
		c0, _ := procstat.Read(pid)
		t0 := time.Now()
		sales := sell(8 * time.Second)
		c1, _ := procstat.Read(pid)
		el := time.Since(t0).Seconds()
		time.Sleep(time.Second) // the last events
		ph := phase{name: name, cpu: (c1.CPU - c0.CPU) / el, rss: rss(), dropped: dropped(), loadStart: strings.Join(strings.Fields(string(la))[:3], " ")}
		for _, r := range readers {
			r.mu.Lock()
			got := slices.Clone(r.got)
			r.mu.Unlock()
			for _, s := range sales {
				i := slices.IndexFunc(got, func(a arrival) bool { return a.code == s.code && a.at.After(s.sent) })
				if i < 0 {
					ph.missing++
					continue
				}
				ph.lags = append(ph.lags, got[i].at.Sub(s.ackd))
			}
		}
		return ph
	}
	var phases []phase
	phases = append(phases, run("no stream"))
	openReaders()
	time.Sleep(time.Second)
	phases = append(phases, run(fmt.Sprintf("%d reading streams", nStreams)))
	openStalled()
	time.Sleep(time.Second)
	phases = append(phases, run(fmt.Sprintf("%d reading + 50 never reading", nStreams)))
	cancel()
	wg.Wait()
	for _, c := range stalled {
		c.Close()
	}
	readers = nil
	time.Sleep(2 * time.Second)
	phases = append(phases, run("no stream again"))
	for _, ph := range phases {
		t.Logf("STREAMS %-34s load %s | public node CPU %.3f s/s, RSS %.0f MB, dropped %s | events %d (missing %d): lag p50 %v p99 %v max %v",
			ph.name, ph.loadStart, ph.cpu, ph.rss, ph.dropped, len(ph.lags), ph.missing,
			quantile(ph.lags, 0.5).Round(time.Millisecond), quantile(ph.lags, 0.99).Round(time.Millisecond), quantileMax(ph.lags).Round(time.Millisecond))
		if ph.missing > 0 {
			t.Errorf("%s: %d sale events never reached a reading stream", ph.name, ph.missing)
		}
	}
}

func quantileMax(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return slices.Max(d)
}
