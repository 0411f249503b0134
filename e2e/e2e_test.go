// Package e2e runs the real publicmask binary as a user would: it builds
// it, starts `publicmask serve` processes, kills them, and talks HTTP.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/publicmask/publicmask/rrn/rrntest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/publicmask once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "publicmask-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "publicmask")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/publicmask/publicmask/cmd/publicmask").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

var (
	portMu   sync.Mutex
	portNext int
)

func freeAddr(t *testing.T) string {
	t.Helper()
	// PUBLICMASK_E2E_PORTS=lo-hi: the ports a helper session was given
	// (a shared machine); each call takes the next free one of the range.
	if r := os.Getenv("PUBLICMASK_E2E_PORTS"); r != "" {
		var lo, hi int
		if _, err := fmt.Sscanf(r, "%d-%d", &lo, &hi); err != nil || lo <= 0 || hi < lo {
			t.Fatalf("PUBLICMASK_E2E_PORTS=%q: want lo-hi", r)
		}
		portMu.Lock()
		defer portMu.Unlock()
		for range hi - lo + 1 {
			p := lo + portNext%(hi-lo+1)
			portNext++
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err == nil {
				ln.Close()
				return ln.Addr().String()
			}
		}
		t.Fatalf("no free port in %s", r)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// server is one running `publicmask serve` process.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
	logs *bytes.Buffer
	mu   *sync.Mutex
}

const adminToken = "e2e-admin-token-0123456789"

// start runs publicmask serve with args (plus --addr and the admin token)
// and waits until it is ready.
func start(t *testing.T, args ...string) *server {
	t.Helper()
	return startOn(t, freeAddr(t), args...)
}

// startOn is start on a given address (a restart where pages must find the
// server again).
func startOn(t *testing.T, addr string, args ...string) *server {
	t.Helper()
	return startExact(t, addr, append([]string{"serve", "--addr", addr, "--admin-token", adminToken}, args...)...)
}

// startExact runs the binary with exactly args (which must listen on addr)
// and waits until it is ready.
func startExact(t *testing.T, addr string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	s := &server{t: t, cmd: cmd, base: "http://" + addr, logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.logs.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { pw.Close() }) // after launch's clean-up has killed the process
	launch(t, cmd)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("server did not become ready; logs:\n%s", s.Logs())
	return nil
}

func (s *server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// kill9 kills the process with SIGKILL: no drain, no flush.
func (s *server) kill9() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// auditTimeout bounds an audit (verify) request: it reads the whole ledger,
// so it grows with the store — on the power-cut tests' FUSE file system,
// from a cold cache after each restart and with CI's other packages
// beside, 34,000 operations' verify outgrew the 10 s of other requests.
// The server's own write timeout is 2 minutes.
const auditTimeout = 90 * time.Second

// call sends a request and decodes the JSON answer into out (if non-nil).
func (s *server) call(method, path, token string, body any, out any) (int, error) {
	code, _, err := s.callHeader(method, path, token, body, out)
	return code, err
}

// callHeader is call that also returns the response headers.
func (s *server) callHeader(method, path, token string, body any, out any) (int, http.Header, error) {
	code, h, data, err := s.send(method, path, token, body)
	if err != nil {
		return 0, nil, err
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return code, h, fmt.Errorf("decode %s %s (%d): %v: %s", method, path, code, err, data)
		}
	}
	return code, h, nil
}

// send sends a request (a string body as it is, CSV when it starts with
// "code,"; anything else as JSON) and returns the raw answer.
func (s *server) send(method, path, token string, body any) (int, http.Header, []byte, error) {
	return s.sendWithin(10*time.Second, method, path, token, body)
}

// sendWithin is send with its own deadline.
func (s *server) sendWithin(timeout time.Duration, method, path, token string, body any) (int, http.Header, []byte, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		r = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, s.base+path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if s, ok := body.(string); ok && strings.HasPrefix(s, "code,") {
		req.Header.Set("Content-Type", "text/csv")
	}
	c := client
	if timeout > client.Timeout {
		c = &http.Client{Transport: client.Transport} // the context bounds it
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data, err
}

func (s *server) mustCall(method, path, token string, body any, out any, want int) {
	s.t.Helper()
	code, err := s.call(method, path, token, body, out)
	if err != nil || code != want {
		s.t.Fatalf("%s %s = %d, %v; want %d", method, path, code, err, want)
	}
}

// id returns a valid resident registration number (check digit computed).
var id = rrntest.ID

// born83 is someone born in 1983 (buys on Wednesdays), serial n.
func born83(n int) string { return id("830315", "12"[n%2], n) }

type errBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type saleReceipt struct {
	SaleID string `json:"sale_id"`
	Items  []struct {
		Role     string `json:"role"`
		Quantity int    `json:"quantity"`
	} `json:"items"`
	Outlet struct {
		Stock      int    `json:"stock"`
		RemainStat string `json:"remain_stat"`
	} `json:"outlet"`
}

// setupOutlets imports n outlets, gives each stock and returns their tokens.
func setupOutlets(t *testing.T, s *server, n, stock int) (codes []string, tokens map[string]string) {
	t.Helper()
	var csv strings.Builder
	csv.WriteString("code,name,addr,type,lat,lng\n")
	for i := range n {
		code := fmt.Sprintf("9%07d", i+1)
		codes = append(codes, code)
		fmt.Fprintf(&csv, "%s,시험약국%d,서울특별시 강북구 솔매로 %d (미아동),01,%.6f,127.0164\n", code, i, 10+i, 37.62+float64(i)*0.001)
	}
	var imp struct {
		Upserted int `json:"upserted"`
	}
	s.mustCall("PUT", "/api/v2/admin/outlets", adminToken, csv.String(), &imp, 200)
	if imp.Upserted != n {
		t.Fatalf("upserted %d, want %d", imp.Upserted, n)
	}
	tokens = map[string]string{}
	for _, c := range codes {
		tokens[c] = s.outletToken(adminToken, c)
		s.mustCall("POST", "/api/v2/outlet/deliveries", tokens[c], map[string]any{"txn_id": "open-" + c, "quantity": stock}, nil, 201)
	}
	return codes, tokens
}

// salesLoad is clients selling to a server until stopped, keeping every
// acknowledged (201) sale.
type salesLoad struct {
	mu   sync.Mutex
	acks []acked
	stop chan struct{}
	wg   sync.WaitGroup
}

// startSales runs workers clients against s; each sells 1 or 2 masks to a
// fresh buyer born 1983 at the outlets in turn until stop, or until the
// server stops answering.
func startSales(s *server, codes []string, tokens map[string]string, workers int, prefix string) *salesLoad {
	l := &salesLoad{stop: make(chan struct{})}
	runCounters(&l.wg, l.stop, codes, tokens, workers, prefix, func(a acked) bool {
		var r saleReceipt
		code, err := s.call("POST", "/api/v2/outlet/sales", a.token, a.body(), &r)
		if err != nil {
			return false // the server is gone
		}
		if code == 201 {
			a.saleID = r.SaleID
			l.mu.Lock()
			l.acks = append(l.acks, a)
			l.mu.Unlock()
		}
		return true
	})
	return l
}

// runCounters starts workers clients (in wg) that hand sell one sale after
// another until stop, or until sell returns false: each sells 1 or 2 masks
// to a fresh buyer born 1983 at the outlets in turn.
func runCounters(wg *sync.WaitGroup, stop chan struct{}, codes []string, tokens map[string]string, workers int, prefix string, sell func(acked) bool) {
	for w := range workers {
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
				if !sell(acked{outlet: c, token: tokens[c], txn: fmt.Sprintf("%s%d-%d", prefix, w, i), buyer: born83(w*(100000/workers) + i), qty: 1 + i%2}) {
					return
				}
			}
		}()
	}
}

// finish stops the clients and returns the acknowledged sales.
func (l *salesLoad) finish() []acked {
	close(l.stop)
	l.wg.Wait()
	return l.acks
}

func (a acked) body() map[string]any {
	return map[string]any{"txn_id": a.txn, "buyer": a.buyer, "quantity": a.qty}
}

// replayAll sends every acknowledged sale again (eight at a time): each must
// answer 200 with its first sale ID.
func replayAll(t *testing.T, s *server, acks []acked) {
	t.Helper()
	jobs := make(chan acked)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range jobs {
				var r saleReceipt
				code, err := s.call("POST", "/api/v2/outlet/sales", a.token, a.body(), &r)
				if err != nil || code != 200 || r.SaleID != a.saleID {
					t.Errorf("txn %s: status %d (%v), replayed as %q, acknowledged as %s", a.txn, code, err, r.SaleID, a.saleID)
				}
			}
		}()
	}
	for _, a := range acks {
		jobs <- a
	}
	close(jobs)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}
